"""Loader for the Wayfair ANnotation DataSet (WANDS): query.csv, product.csv, label.csv.

Tab-separated files. query.csv: query_id, query (, query_class); product.csv: product_id,
product_name, product_class, category hierarchy, product_description, product_features
("key:value|key:value"), ratings…; label.csv: id, query_id, product_id, label
(Exact 4, Partial 3, Irrelevant 1 — WANDS has no level 2). It joins the three tables; it does
not sample, balance or deduplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from relevance.datasets.csvrows import iter_rows
from relevance.datasets.errors import DataFormatError
from relevance.datasets.labels import wands_level
from relevance.datasets.text import none_if_blank, normalize_space
from relevance.types import LabeledPair, Product

FILES = ("query.csv", "product.csv", "label.csv")
SOURCE = "wands"


def parse_features(raw: str) -> dict[str, str]:
    """WANDS ``product_features`` ("k:v|k:v") as a dict; pieces without a colon are skipped.

    >>> parse_features("color:white|overallwidth-sidetoside:64.7| material : oak |junk")
    {'color': 'white', 'overallwidth-sidetoside': '64.7', 'material': 'oak'}
    """
    features: dict[str, str] = {}
    for piece in raw.split("|"):
        key, sep, value = piece.partition(":")
        key, value = key.strip(), value.strip()
        if sep and key and value:
            features[key] = value
    return features


def resolve_files(source: str | Path | Sequence[str | Path]) -> tuple[Path, Path, Path]:
    """(query, product, label) paths from a WANDS folder or from the three files in any order.

    Files are told apart by name: the one whose name contains "query", "product", "label".
    """
    if isinstance(source, (str, Path)):
        folder = Path(source)
        if not folder.is_dir():
            raise DataFormatError(folder, "WANDS expects a folder holding " + ", ".join(FILES))
        paths = [folder / name for name in FILES]
        for p in paths:
            if not p.is_file():
                raise DataFormatError(p, "missing WANDS file; a WANDS folder holds " + ", ".join(FILES))
        return paths[0], paths[1], paths[2]
    found: dict[str, Path] = {}
    for item in source:
        p = Path(item)
        kind = next((k for k in ("query", "product", "label") if k in p.name.lower()), None)
        if kind is None or kind in found:
            raise DataFormatError(p, "cannot tell which WANDS table this is (query/product/label)")
        found[kind] = p
    missing = [k for k in ("query", "product", "label") if k not in found]
    if missing:
        raise DataFormatError(", ".join(str(Path(s)) for s in source), f"missing WANDS table(s): {missing}")
    return found["query"], found["product"], found["label"]


def _read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for line, row in iter_rows(path, ("query_id", "query"), delimiter="\t"):
        qid, text = row["query_id"].strip(), row["query"].strip()
        if not qid or not text:
            field = "query_id" if not qid else "query"
            raise DataFormatError(path, "empty value", line=line, field=field)
        queries[qid] = text
    return queries


def _read_products(path: Path) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for line, row in iter_rows(path, ("product_id", "product_name"), delimiter="\t"):
        pid, name = row["product_id"].strip(), normalize_space(row["product_name"])
        if not pid or not name:
            field = "product_id" if not pid else "product_name"
            raise DataFormatError(path, "empty value", line=line, field=field)
        attributes = parse_features(row.get("product_features") or "")
        hierarchy = none_if_blank(row.get("category hierarchy"))
        if hierarchy:
            attributes.setdefault("category_hierarchy", hierarchy)
        brand = attributes.get("brand") or attributes.get("manufacturer")
        products[pid] = Product(
            id=pid,
            title=name,
            brand=brand,
            category=none_if_blank(row.get("product_class")),
            attributes=attributes,
            description=none_if_blank(normalize_space(row.get("product_description") or "")),
        )
    return products


def load_wands(source: str | Path | Sequence[str | Path]) -> list[LabeledPair]:
    """Join WANDS query, product and label tables into pairs (``source="wands"``).

    ``source`` is the folder holding query.csv, product.csv and label.csv, or the three
    paths. ``product_class`` becomes the category, ``product_features`` the attributes
    (plus ``category_hierarchy``), a ``brand``/``manufacturer`` feature the brand. A label
    row naming an unknown query or product, or an unknown label, fails with the file, line
    and field.
    """
    query_path, product_path, label_path = resolve_files(source)
    queries = _read_queries(query_path)
    products = _read_products(product_path)
    pairs: list[LabeledPair] = []
    for line, row in iter_rows(label_path, ("query_id", "product_id", "label"), delimiter="\t"):
        qid, pid, raw = row["query_id"].strip(), row["product_id"].strip(), row["label"].strip()
        if qid not in queries:
            raise DataFormatError(label_path, f"query_id {qid!r} not in {query_path.name}", line=line, field="query_id")
        if pid not in products:
            raise DataFormatError(
                label_path, f"product_id {pid!r} not in {product_path.name}", line=line, field="product_id"
            )
        try:
            level = wands_level(raw)
        except ValueError as exc:
            raise DataFormatError(label_path, str(exc), line=line, field="label") from None
        pairs.append(
            LabeledPair(
                query=queries[qid],
                product=products[pid],
                level=level,
                source=SOURCE,
                tags=(f"wands:{raw.capitalize()}",),
            )
        )
    return pairs
