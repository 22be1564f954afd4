"""Loaders: the real ESCI fixtures, small WANDS / ESCI / JSONL files written here, bad rows."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from relevance.datasets.errors import DataFormatError
from relevance.datasets.loaders import detect_format, load_esci, load_jsonl, load_pairs, load_wands, save_jsonl
from relevance.datasets.text import split_product_text, strip_html
from relevance.types import LabeledPair, Product
from training.data import fixture_path

# ---------------------------------------------------------------- real ESCI fixtures


@pytest.fixture(scope="module")
def esci_dev() -> list[LabeledPair]:
    return load_esci(fixture_path("esci_dev.csv"))


@pytest.fixture(scope="module")
def esci_iphone() -> list[LabeledPair]:
    return load_esci(fixture_path("esci_iphone_charger.csv"))


def test_esci_dev_rows_and_label_counts(esci_dev: list[LabeledPair]) -> None:
    assert len(esci_dev) == 100
    assert len({p.query for p in esci_dev}) == 100
    assert Counter(p.level for p in esci_dev) == {4: 69, 3: 24, 1: 6, 2: 1}
    assert Counter(p.tags for p in esci_dev) == {("esci:E",): 69, ("esci:S",): 24, ("esci:I",): 6, ("esci:C",): 1}
    assert all(p.source == "esci" for p in esci_dev)


def test_esci_dev_fields(esci_dev: list[LabeledPair]) -> None:
    first = esci_dev[0]
    assert first.query == "formal dresses for teens knee length"
    assert first.product.id == "B07N4J9JNP"
    assert first.product.title.startswith("YATHON Vintage Party Dresses for Women")
    assert first.product.brand == "YATHON"
    assert first.product.attributes == {"color": "Yt001-navy Floral"}
    desc = first.product.description or ""
    assert "<br" not in desc and "<b>" not in desc
    assert "Brand Name: YATHON" in desc
    # bullet points are folded in as "- " lines after the description
    assert "\n- 💓 FLATTERING RUFFLE SLEEVELESS" in desc
    for pair in esci_dev:
        assert pair.product.title and pair.product.id
        assert "<br" not in (pair.product.description or "")
        assert "\n\n" not in (pair.product.description or "")


def test_esci_iphone_rows_and_label_counts(esci_iphone: list[LabeledPair]) -> None:
    assert len(esci_iphone) == 99
    assert {p.query for p in esci_iphone} == {"iphone charger"}
    assert Counter(p.level for p in esci_iphone) == {4: 76, 1: 17, 3: 5, 2: 1}


def test_esci_iphone_product_text_is_split_without_losing_text(esci_iphone: list[LabeledPair]) -> None:
    first = esci_iphone[0]
    assert first.product.brand == "YEFOOT"
    assert first.product.title.startswith("iPhone Charger,YEFOOT MFi Certified Lightning Cable")
    assert first.product.title.endswith("More-Black&Red")
    assert (first.product.description or "").startswith("The High Quality--Aluminum shell")
    assert sum(p.product.brand is not None for p in esci_iphone) >= 50
    for pair in esci_iphone:
        assert 0 < len(pair.product.title) <= 350
        assert "iphone" not in (pair.product.brand or "").lower()


def test_load_pairs_detects_esci(esci_dev: list[LabeledPair]) -> None:
    path = fixture_path("esci_dev.csv")
    assert detect_format(path) == "esci"
    assert load_pairs(path) == esci_dev
    assert load_pairs(path, format="esci") == esci_dev


def test_strip_html_and_split_heuristic() -> None:
    assert strip_html("<p>One&nbsp;two</p><ul><li>a</li><li>b</li></ul>") == "One two\na\nb"
    title, brand, desc = split_product_text("Amazon Basics Lightning Cable, 6 Feet Amazon Basics IN THE BOX: one cable")
    assert (title, brand, desc) == ("Amazon Basics Lightning Cable, 6 Feet", "Amazon Basics", "IN THE BOX: one cable")
    long = " ".join(f"word{i}" for i in range(60))
    title, brand, desc = split_product_text(long)
    assert brand is None and len(title) <= 200 and desc
    assert (title + " " + desc).split() == long.split()


# ---------------------------------------------------------------- ESCI written here


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


OFFICIAL_HEADER = (
    "example_id,query,query_id,product_id,product_locale,esci_label,small_version,large_version,"
    "product_title,product_description,product_bullet_point,product_brand,product_color\n"
)


def test_esci_official_small_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "small.csv",
        OFFICIAL_HEADER
        + '1,red mug,7,P1,us,Exact,1,1,"Red Mug 12 oz","<b>Big</b> &amp; red<br>Dishwasher safe",'
        + '"Ceramic\nMicrowave safe",Acme,Red\n'
        + "2,red mug,7,P2,us,Complement,1,1,Mug Coasters,,,,\n",
    )
    pairs = load_esci(path)
    assert [p.level for p in pairs] == [4, 2]
    mug = pairs[0].product
    assert mug == Product(
        id="P1",
        title="Red Mug 12 oz",
        brand="Acme",
        attributes={"color": "Red"},
        description="Big & red\nDishwasher safe\n- Ceramic\n- Microwave safe",
    )
    coaster = pairs[1].product
    assert coaster.brand is None and coaster.description is None and coaster.attributes == {}


def test_esci_simplified_letters(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "simple.csv",
        "query,product_id,product_text,esci_label\nmug,P1,Red Mug,E\nmug,P2,Blue Mug,s\nmug,P3,Coaster,C\nmug,P4,Sofa,I\n",
    )
    pairs = load_pairs(path)
    assert [p.level for p in pairs] == [4, 3, 2, 1]
    assert [p.tags for p in pairs] == [("esci:E",), ("esci:S",), ("esci:C",), ("esci:I",)]
    assert pairs[0].product == Product(id="P1", title="Red Mug")


def test_esci_unknown_label_names_file_line_and_field(tmp_path: Path) -> None:
    # the first record spans two physical lines, so the bad record starts on line 4
    path = _write(
        tmp_path / "bad.csv",
        'query,product_id,product_text,esci_label\nmug,P1,"Red\nMug",E\nmug,P2,Blue Mug,Maybe\n',
    )
    with pytest.raises(DataFormatError) as err:
        load_esci(path)
    assert err.value.line == 4 and err.value.field == "esci_label"
    message = str(err.value)
    assert "bad.csv" in message and "line 4" in message and "'esci_label'" in message and "Maybe" in message
    assert "Exact" in message  # says what was expected


def test_esci_missing_column_and_empty_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "nocol.csv", "query,product_id,esci_label,product_title\nmug,P1,E,\n")
    with pytest.raises(DataFormatError, match=r"line 2, field 'product_title'"):
        load_esci(path)
    path = _write(tmp_path / "nolabel.csv", "query,product_id,product_title\nmug,P1,Mug\n")
    with pytest.raises(DataFormatError, match="nolabel.csv.*not tell the format"):
        load_pairs(path)
    with pytest.raises(DataFormatError, match=r"missing column\(s\) esci_label"):
        load_pairs(path, format="esci")
    path = _write(tmp_path / "noquery.csv", "query,product_id,product_text,esci_label\n ,P1,Mug,E\n")
    with pytest.raises(DataFormatError, match=r"line 2, field 'query'"):
        load_esci(path)


# ---------------------------------------------------------------- WANDS


def _wands(folder: Path, labels: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "query.csv", "query_id\tquery\tquery_class\n0\tsalon chair\tMassage Chairs\n1\tdesk\tDesks\n")
    _write(
        folder / "product.csv",
        "product_id\tproduct_name\tproduct_class\tcategory hierarchy\tproduct_description\tproduct_features"
        "\trating_count\taverage_rating\treview_count\n"
        "10\tbeauty salon chair\tSalon Chairs\tCommercial / Salon Furniture\tA sturdy chair.\t"
        "color:black|material:vinyl|overallheight:40\t15\t4.5\t15\n"
        "11\tstanding desk\tDesks\t\t\t\t\t\t\n",
    )
    _write(
        folder / "label.csv",
        labels or "id\tquery_id\tproduct_id\tlabel\n0\t0\t10\tExact\n1\t0\t11\tIrrelevant\n2\t1\t11\tPartial\n",
    )
    return folder


def test_wands_folder(tmp_path: Path) -> None:
    folder = _wands(tmp_path / "wands")
    pairs = load_wands(folder)
    assert [(p.query, p.product.id, p.level) for p in pairs] == [
        ("salon chair", "10", 4),
        ("salon chair", "11", 1),
        ("desk", "11", 3),
    ]
    chair = pairs[0].product
    assert chair.title == "beauty salon chair"
    assert chair.category == "Salon Chairs"
    assert chair.description == "A sturdy chair."
    assert chair.attributes == {
        "color": "black",
        "material": "vinyl",
        "overallheight": "40",
        "category_hierarchy": "Commercial / Salon Furniture",
    }
    assert pairs[1].product.attributes == {} and pairs[1].product.description is None
    assert all(p.source == "wands" for p in pairs)
    assert pairs[2].tags == ("wands:Partial",)


def test_wands_files_and_autodetect(tmp_path: Path) -> None:
    folder = _wands(tmp_path / "w")
    expected = load_wands(folder)
    assert load_wands([folder / "label.csv", folder / "query.csv", folder / "product.csv"]) == expected
    assert detect_format(folder) == "wands"
    assert load_pairs(folder) == expected
    assert load_pairs(folder / "label.csv") == expected


def test_wands_bad_rows(tmp_path: Path) -> None:
    bad_label = "id\tquery_id\tproduct_id\tlabel\n0\t0\t10\tExact\n1\t0\t11\tMaybe\n"
    with pytest.raises(DataFormatError) as err:
        load_wands(_wands(tmp_path / "a", bad_label))
    assert err.value.path.endswith("label.csv") and err.value.line == 3 and err.value.field == "label"
    assert "Partial" in str(err.value)
    bad_product = "id\tquery_id\tproduct_id\tlabel\n0\t0\t99\tExact\n"
    with pytest.raises(DataFormatError, match=r"label.csv, line 2, field 'product_id'.*'99'"):
        load_wands(_wands(tmp_path / "b", bad_product))
    with pytest.raises(DataFormatError, match="missing WANDS file"):
        (tmp_path / "c").mkdir()
        load_wands(tmp_path / "c")


# ---------------------------------------------------------------- JSONL


def test_jsonl_round_trip(tmp_path: Path, esci_dev: list[LabeledPair]) -> None:
    pairs = [
        *esci_dev[:5],
        LabeledPair(
            "case for iphone 8",
            Product("X1", "Case", brand=None, category="Cases", attributes={"color": "Blue"}, description="d"),
            2,
            source="synthetic",
            tags=("compat_conflict", "family:compatibility"),
        ),
    ]
    path = tmp_path / "sub" / "pairs.jsonl"
    assert save_jsonl(pairs, path) == len(pairs)
    assert load_jsonl(path) == pairs
    assert detect_format(path) == "jsonl"
    assert load_pairs(path) == pairs
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[-1])
    assert first == {
        "query": "case for iphone 8",
        "product": {
            "id": "X1",
            "title": "Case",
            "category": "Cases",
            "attributes": {"color": "Blue"},
            "description": "d",
        },
        "level": 2,
        "source": "synthetic",
        "tags": ["compat_conflict", "family:compatibility"],
    }


def test_jsonl_label_names(tmp_path: Path) -> None:
    lines = [
        {"query": "q", "product": {"id": "1", "title": "t"}, "label": "Related"},
        {"query": "q", "product": {"id": "2", "title": "t"}, "label": "S"},
        {"query": "q", "product": {"id": "3", "title": "t"}, "label": "exact"},
        {"query": "q", "product": {"id": 4, "title": "t", "attributes": {"n": 3}}, "level": "2"},
        {"query": "q", "product": {"id": "5", "title": "t"}, "label": "Irrelevant"},
    ]
    path = _write(tmp_path / "names.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    pairs = load_jsonl(path)
    assert [p.level for p in pairs] == [3, 3, 4, 2, 1]
    assert pairs[3].product.id == "4" and pairs[3].product.attributes == {"n": "3"}


@pytest.mark.parametrize(
    ("line", "field", "needle"),
    [
        ('{"query": "q", "product": {"id": "1", "title": "t"}, "level": 5}', "level", "1-4"),
        ('{"query": "q", "product": {"id": "1", "title": "t"}, "label": "Good"}', "label", "Related"),
        ('{"query": "q", "product": {"id": "1", "title": "t"}}', "level", "needs a 'level'"),
        ('{"query": "q", "product": {"id": "1"}, "level": 4}', "product.title", "required"),
        ('{"query": "q", "product": {"id": "1", "title": 7}, "level": 4}', "product.title", "string"),
        ('{"query": "q", "product": "t", "level": 4}', "product", "object"),
        ('{"product": {"id": "1", "title": "t"}, "level": 4}', "query", "required"),
        (
            '{"query": "q", "product": {"id": "1", "title": "t", "attributes": {"a": [1]}}, "level": 4}',
            "product.attributes.a",
            "strings",
        ),
        ('{"query": "q", "product": {"id": "1", "title": "t"}, "level": 4, "tags": "x"}', "tags", "list"),
        ('{"query": "q", "product": {"id": "1", "title": "t"}, "level": true}', "level", "1-4"),
    ],
)
def test_jsonl_bad_rows(tmp_path: Path, line: str, field: str, needle: str) -> None:
    good = '{"query": "q", "product": {"id": "0", "title": "t"}, "level": 4}'
    path = _write(tmp_path / "bad.jsonl", good + "\n" + line + "\n")
    with pytest.raises(DataFormatError) as err:
        load_jsonl(path)
    assert err.value.line == 2 and err.value.field == field
    assert needle in str(err.value) and "bad.jsonl" in str(err.value)


def test_jsonl_invalid_json(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.jsonl", '{"query": "q"\n')
    with pytest.raises(DataFormatError, match=r"broken.jsonl, line 1: invalid JSON"):
        load_jsonl(path)


def test_load_pairs_unknown_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file"):
        load_pairs(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="unknown format"):
        load_pairs(fixture_path("esci_dev.csv"), format="parquet")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="esci_dev.csv"):
        fixture_path("nope.csv")
