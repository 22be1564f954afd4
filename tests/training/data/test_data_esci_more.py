"""`esci_more.csv` and its builder: real ESCI training pairs that never share a query with the
shipped real files (ESCI dev, iphone charger), so a judge trained on them is judged on held-out data."""

from __future__ import annotations

import csv
from collections import Counter

from relevance.datasets.loaders import load_pairs
from relevance.paths import fixture_path
from relevance.types import normal_query
from training.data.esci_more import build, held_out_queries
from training.data.folds import select_fold


def test_the_shipped_file_is_real_esci_and_shares_no_query_with_the_held_out_files():
    pairs = load_pairs(fixture_path("esci_more.csv"))
    assert len(pairs) > 1000
    assert {p.source for p in pairs} == {"esci"}
    levels = Counter(p.level for p in pairs)
    assert set(levels) == {1, 2, 3, 4} and all(n >= 20 for n in levels.values()), levels
    assert all(p.product.title.strip() and len(p.product.id) == 10 for p in pairs)
    assert not {normal_query(p.query) for p in pairs} & held_out_queries()
    assert len({(normal_query(p.query), p.product.id) for p in pairs}) == len(pairs)


def test_its_query_folds_split_every_query_whole():
    pairs = load_pairs(fixture_path("esci_more.csv"))
    folds = [select_fold(pairs, (k, 4)) for k in range(4)]
    assert sum(map(len, folds)) == len(pairs) and all(folds)
    queries = [{normal_query(p.query) for p in fold} for fold in folds]
    assert all(not (queries[i] & queries[j]) for i in range(4) for j in range(i + 1, 4))


def _write(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_build_drops_held_out_queries_untitled_pairs_and_repeats(tmp_path):
    judgments, products, out = tmp_path / "judgments.csv", tmp_path / "products.csv", tmp_path / "out.csv"
    _write(
        judgments,
        ["query_id", "query", "product_id", "esci_label"],
        [
            ("1", "wool socks", "B000000001", "E"),
            ("1", "Wool  Socks", "B000000001", "S"),  # the same pair again, other spelling
            ("1", "wool socks", "B000000002", "I"),
            ("1", "wool socks", "B000000003", "c"),  # no title in products.csv
            ("2", "iPhone  Charger", "B000000004", "E"),  # a query of a shipped file
        ],
    )
    _write(
        products,
        ["product_id", "title", "description"],
        [
            ("B000000001", "Merino Wool Hiking Socks, 3 Pairs", "<b>warm</b>"),
            ("B000000002", 'Cotton "No Show" Liner', ""),
            ("B000000004", "USB-C Charger", ""),
        ],
    )
    counts = build(judgments, products, out)
    assert counts == {"judged": 5, "no_title": 1, "held_out_query": 1, "duplicate": 1, "written": 2}
    pairs = load_pairs(out)
    assert [(p.query, p.product.id, p.product.title, p.level) for p in pairs] == [
        ("wool socks", "B000000001", "Merino Wool Hiking Socks, 3 Pairs", 4),
        ("wool socks", "B000000002", 'Cotton "No Show" Liner', 1),
    ]
