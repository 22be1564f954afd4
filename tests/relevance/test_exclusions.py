"""Query exclusions on the coverage line: the words a query rules out, and whether a listing has
them, is free of them or is silent; a model trained without the clause keeps its line."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from relevance.core import ScoringCore
from relevance.coverage import query_coverage, query_exclusions, query_words
from relevance.engines.transformers_engine import TransformersEngine
from relevance.exclusions import Stance
from relevance.labels import TAOSR1
from relevance.manifest import check_retrieval, read_manifest, write_manifest
from relevance.prompt import PromptRenderer
from relevance.retrieval_config import RetrievalConfig
from relevance.types import Product

CAFFEINE_FREE = Product(id="1", title="Energy Drink, Tropical", attributes={"special_feature": "Sugar Free, Caffeine Free"})
CAFFEINATED = Product(id="2", title="Energy Drink, Extra Caffeine", attributes={"special_feature": "Sugar Free"})
PLAIN = Product(id="3", title="Energy Drink Cans, B Vitamins")


@pytest.mark.parametrize(
    ("query", "excluded"),
    [
        ("wall lamp without cord", [("cord",)]),
        ("wall lamp without a cord", [("cord",)]),
        ("shower gel with no sulfates", [("sulfate",)]),
        ("shampoo that does not contain sulfates", [("sulfate",)]),
        ("gummies containing zero gelatin", [("gelatin",)]),
        ("Sugar-Free gummy bears", [("sugar",)]),
        ("gluten free dairy free cookies", [("gluten",), ("dairy",)]),
        ("reading glasses without blue light blocking for women", [("blue", "light", "blocking")]),
        ("non slip socks", [("slip",)]),
        ("free shipping phone case", []),
        ("no 2 pencils", []),
        ("iphone 13 case", []),
        ("without", []),
    ],
)
def test_the_query_side_finds_each_excluded_phrase(query, excluded):
    assert query_exclusions(query) == excluded


def test_excluded_words_and_their_negators_leave_the_three_lists_only_with_negation():
    assert query_words("energy drink without caffeine") == ["energy", "drink", "without", "caffeine"]
    assert query_words("energy drink without caffeine", negation=True) == ["energy", "drink"]
    assert query_words("sulfate free shampoo", negation=True) == ["shampoo"]


@pytest.mark.parametrize(
    ("product", "stance"),
    [
        (CAFFEINE_FREE, Stance.RULES_OUT),
        (CAFFEINATED, Stance.CONTAINS),
        (PLAIN, Stance.SILENT),
        (replace(PLAIN, description="Free from sugar and caffeine."), Stance.RULES_OUT),
        (replace(PLAIN, description="Made with no caffeine at all."), Stance.RULES_OUT),
        # containing wins: a "Caffeine Free" badge does not undo caffeine in the ingredients
        (replace(CAFFEINE_FREE, attributes={**CAFFEINE_FREE.attributes, "ingredients": "water, caffeine"}), Stance.CONTAINS),
    ],
)
def test_the_listing_side_tells_has_it_from_free_of_it_from_silent(product, stance):
    (exclusion,) = query_coverage("energy drink without caffeine", product, negation=True).excluded
    assert exclusion.words == ("caffeine",) and exclusion.stance is stance


def test_a_phrase_reads_within_one_field_and_less_words_rule_it_out():
    lamp = Product(id="1", title="LED Wall Lamp with Switch Cord", description="Plug in and go.")
    assert query_coverage("wall lamp without cord", lamp, negation=True).excluded[0].stance is Stance.CONTAINS
    cordless = Product(id="2", title="Cordless Wall Lamp, battery powered")
    assert query_coverage("wall lamp without cord", cordless, negation=True).excluded[0].stance is Stance.RULES_OUT
    split = Product(id="3", title="Glasses in blue", brand="Light Blocking Co")  # the words apart, in two fields
    assert query_coverage("glasses without blue light blocking", split, negation=True).excluded[0].stance is Stance.SILENT
    glasses = Product(id="4", title="Blue Light Blocking Reading Glasses for Women")
    line = query_coverage("reading glasses women without blue light blocking", glasses, negation=True).line()
    assert line.endswith("not at all: none; excluded by the query: blue light blocking (listing has it)")


def test_the_line_is_unchanged_for_a_query_without_exclusions_and_without_negation():
    case = Product(id="1", title="Silicone case for iPhone 13")
    assert query_coverage("iphone 13 case", case, negation=True) == query_coverage("iphone 13 case", case)
    old = query_coverage("energy drink without caffeine", CAFFEINE_FREE)
    assert old.excluded == () and "without" in old.missing  # the line a model trained before the clause was given


def test_the_renderer_states_exclusions_only_when_asked(smollm2_tokenizer):
    with_clause = PromptRenderer(smollm2_tokenizer, TAOSR1, coverage=True, coverage_negation=True)
    without = PromptRenderer(smollm2_tokenizer, TAOSR1, coverage=True)
    query = "energy drink without caffeine"
    assert with_clause.coverage_text(query, CAFFEINATED).endswith("excluded by the query: caffeine (listing has it)")
    assert "excluded" not in without.coverage_text(query, CAFFEINATED)
    assert with_clause.encode_prefix(query) == without.encode_prefix(query)


@pytest.fixture
def negation_model_dir(tmp_path, tiny_model_dir) -> Path:
    """The tiny checkpoint with a manifest that says it was trained with the exclusions clause."""
    out = tmp_path / "negation"
    shutil.copytree(tiny_model_dir, out)
    trained = RetrievalConfig(enabled=False, coverage=True, coverage_negation=True)
    write_manifest(out, replace(read_manifest(out), retrieval=trained.to_dict()))
    return out


def test_serving_states_exclusions_for_a_model_trained_with_them(negation_model_dir, cache_dir):
    engine = TransformersEngine(negation_model_dir, cache_dir=cache_dir, dtype="float32")
    core = ScoringCore(engine)
    assert core.renderer.coverage and core.renderer.coverage_negation
    group = core.prepare(["energy drink without caffeine"], [[CAFFEINE_FREE]])[0]
    assert "excluded by the query: caffeine (listing free of it)" in engine.tokenizer.decode(group.prompt_ids(0))
    check_retrieval(engine.manifest, RetrievalConfig(enabled=False), None, negation_model_dir)  # the model's own choice


def test_a_manifest_from_before_the_clause_reads_as_without_it():
    assert RetrievalConfig.from_dict({"enabled": True, "coverage": True}).coverage_negation is False
