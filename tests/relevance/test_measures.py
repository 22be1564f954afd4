"""Measures read whole on the coverage line (`coverage_measures`): a decimal or a dimension the query
asks for is named only by the same value, never by digits scattered through the listing."""

from dataclasses import replace

import pytest

from relevance.coverage import query_coverage, query_words
from relevance.measures import listing_measure_words, measure_words
from relevance.retrieval_config import RetrievalConfig
from relevance.types import Product

DOCK = Product(id="d1", title="SSK Aluminum Hard Drive Docking Station, USB 3.0 to SATA Dual Bay for 2.5 & 3.5 inch HDD")
FRAME = Product(id="f1", title="12x16 White Picture Frame to Display 11x14 Photo with Mat or 12 by 16 Picture Without Mats")
BED = Product(id="b1", title="Greenes 4 Ft. X 8 Ft. X 10.5 In. Original Cedar Raised Garden Bed")


def test_a_decimal_is_named_by_the_same_number_only():
    assert query_coverage("docking station usb 2.0", DOCK).missing == ()  # the runs `2` and `0` are found in 2.5 and 3.0
    assert query_coverage("docking station usb 2.0", DOCK, measures=True).missing == ("2.0",)
    two_bays = replace(DOCK, title=DOCK.title + " (2x16TB Supports), 2 Pack")  # a count names no decimal
    assert query_coverage("docking station usb 2.0", two_bays, measures=True).missing == ("2.0",)
    assert query_coverage("docking station usb 3.0", DOCK, measures=True).missing == ()
    assert query_coverage("usb 3 docking station", DOCK, measures=True).missing == ()  # 3.0 names 3
    assert query_coverage("3.5 inch docking station", DOCK, measures=True).missing == ()
    assert query_coverage("1.75 reading glasses", Product(id="g", title="Reading Glasses +1.50"), measures=True).missing == ("1.75",)


def test_a_dimension_is_one_word_whatever_its_order_separator_and_units():
    for query in ("16 x 16 frames", "16x16 frames", '16" x 16" frame', "16 by 16 inch frames", "16 X 16 in. frames"):
        assert query_words(query, measures=True) == ["16x16", "frame"], query
    assert query_coverage("16 x 16 frames", FRAME).missing == ()  # before: `16` and `x` found in 12x16
    assert query_coverage("16 x 16 frames", FRAME, measures=True).missing == ("16x16",)
    assert query_coverage("16 x 12 frame", FRAME, measures=True).missing == ()
    assert query_coverage("raised garden bed 8x4 feet", BED, measures=True).missing == ()  # a pair of its three
    assert query_coverage("raised garden bed 4x10 feet", BED, measures=True).missing == ("4x10",)


def test_words_around_measures_read_as_before():
    assert measure_words("iPhone13 2-Pack, 3 ft cable") == ["iphone13", "2", "pack", "3", "ft", "cable"]
    assert measure_words("v2.0 board 2x charger") == ["v2.0", "board", "2x", "charger"]  # `2x` is a count, not a dimension
    words, pairs = listing_measure_words("Case for iPhone 13 x 2")
    assert words[-1] == "2x13" and pairs == set()
    assert query_coverage("16.0 x 16 frame", FRAME, measures=True).missing == ("16x16",)  # a size's value, not its digits
    assert query_coverage("iphone 13 case", Product(id="c", title="Case for iPhone 13 x 2"), measures=True).missing == ()
    assert query_coverage("box 2x", Product(id="c", title="Box"), measures=True).missing == ("2x",)


@pytest.mark.parametrize("text", ["", ".", "x", "1x", "x1", "1.", ".5", "1..2", "1 x x 2", "3 x 4 x 5 x 6 ft", "0.0.0", "×" * 50, "9" * 40 + ".0"])
def test_odd_text_never_breaks_the_reader(text):
    words = measure_words(text)
    assert all(w and w == w.lower() for w in words)
    query_coverage(text or "x", Product(id="o", title=text or "x"), naming_only=True, measures=True).line()


def test_without_the_option_the_line_reads_digit_runs_as_before():
    assert query_coverage("16 x 16 frames", FRAME).line() == (
        "Query words the listing names: 16, x, frame; only in its description: none; not at all: none"
    )
    assert query_coverage("garden bed 8x4", BED, naming_only=True).missing == ("8x4",)
    assert RetrievalConfig.from_dict({"coverage": True}).coverage_measures is False  # manifests from before it

