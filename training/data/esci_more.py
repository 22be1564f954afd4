"""Build `esci_more.csv`: real ESCI training pairs whose queries neither shipped real file holds.

The source is a public republication of ESCI US rows as two files: `judgments.csv` (query_id,
query, product_id, esci_label: the original human labels) and `products.csv` (product_id, title
and optionally description). This joins them, keeps only pairs with a title, and drops every
query that `esci_dev.csv` or `esci_iphone_charger.csv` contains (normalised as fold hashing
normalises it), so both shipped files stay held out from any judge trained on the result.
The output uses the official ESCI columns, so `load_esci` and `#fold=K/N` read it as they read
the shipped fixtures.

    python -m training.data.esci_more JUDGMENTS.csv PRODUCTS.csv [OUT.csv]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from relevance.datasets.loaders import load_pairs
from relevance.paths import FIXTURES_DIR, fixture_path
from relevance.types import normal_query

COLUMNS = ["example_id", "query", "query_id", "product_id", "product_locale", "esci_label", "product_title"]
HELD_OUT = ("esci_dev.csv", "esci_iphone_charger.csv")


def held_out_queries() -> set[str]:
    """The normalised queries of the shipped real files, which training must never see."""
    return {normal_query(p.query) for name in HELD_OUT for p in load_pairs(fixture_path(name))}


def build(judgments: Path, products: Path, out: Path) -> dict[str, int]:
    """Write the joined, held-out-free pairs to `out`; return counts for the record."""
    with products.open(encoding="utf-8", newline="") as f:
        titles = {r["product_id"]: r["title"].strip() for r in csv.DictReader(f) if r.get("title", "").strip()}
    banned = held_out_queries()
    rows, seen = [], set()
    counts = {"judged": 0, "no_title": 0, "held_out_query": 0, "duplicate": 0}
    with judgments.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            counts["judged"] += 1
            key = (normal_query(r["query"]), r["product_id"])
            if key[0] in banned:
                counts["held_out_query"] += 1
            elif r["product_id"] not in titles:
                counts["no_title"] += 1
            elif key in seen:
                counts["duplicate"] += 1
            else:
                seen.add(key)
                rows.append(r)
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i, r in enumerate(rows):
            label = r["esci_label"].strip().upper()
            writer.writerow([i, r["query"], r["query_id"], r["product_id"], "us", label, titles[r["product_id"]]])
    counts["written"] = len(rows)
    return counts


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    out = Path(argv[2]) if len(argv) == 3 else FIXTURES_DIR / "esci_more.csv"
    print(build(Path(argv[0]), Path(argv[1]), out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
