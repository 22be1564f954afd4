"""Plain JSONL pairs: one object per line, read and written.

Each line: ``{"query": str, "product": {"id", "title", "brand"?, "category"?, "attributes"?,
"description"?}, "level": 1-4}`` or ``"label"`` instead of level (a level name such as
"Related", an ESCI name or letter); optional ``"source"`` and ``"tags"``. Blank lines are
skipped. It validates shapes and types; it does not know where the pairs came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from relevance.datasets.errors import DataFormatError
from relevance.datasets.labels import check_level, level_from_name
from relevance.types import LabeledPair, Product

_PRODUCT_TEXT_FIELDS = ("brand", "category", "description")


def _str_field(path: Path, line: int, obj: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise DataFormatError(path, "missing or null; it is required", line=line, field=where + key)
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
        value = str(value)
    if not isinstance(value, str):
        raise DataFormatError(path, f"expected a string, got {type(value).__name__}", line=line, field=where + key)
    if required and not value.strip():
        raise DataFormatError(path, "empty string; it is required", line=line, field=where + key)
    return value


def _product(path: Path, line: int, raw: object) -> Product:
    if not isinstance(raw, dict):
        raise DataFormatError(path, f"expected an object, got {type(raw).__name__}", line=line, field="product")
    pid = _str_field(path, line, raw, "id", "product.", required=True)
    title = _str_field(path, line, raw, "title", "product.", required=True)
    extra = {k: _str_field(path, line, raw, k, "product.", required=False) for k in _PRODUCT_TEXT_FIELDS}
    attrs_raw = raw.get("attributes") or {}
    if not isinstance(attrs_raw, dict):
        raise DataFormatError(
            path,
            f"expected an object of strings, got {type(attrs_raw).__name__}",
            line=line,
            field="product.attributes",
        )
    attributes: dict[str, str] = {}
    for key, value in attrs_raw.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise DataFormatError(
                path,
                f"attribute values must be strings, got {type(value).__name__}",
                line=line,
                field=f"product.attributes.{key}",
            )
        attributes[str(key)] = str(value)
    assert pid is not None and title is not None
    return Product(id=pid, title=title, attributes=attributes, **extra)


def _level(path: Path, line: int, obj: dict[str, Any]) -> int:
    try:
        if obj.get("level") is not None:
            return check_level(obj["level"])
        if obj.get("label") is not None:
            label = obj["label"]
            if isinstance(label, int) and not isinstance(label, bool):
                return check_level(label)
            if not isinstance(label, str):
                raise ValueError(f"label must be a string, got {type(label).__name__}")
            return level_from_name(label)
    except ValueError as exc:
        field = "level" if obj.get("level") is not None else "label"
        raise DataFormatError(path, str(exc), line=line, field=field) from None
    raise DataFormatError(path, "needs a 'level' (1-4) or a 'label' (e.g. Related, Exact, S)", line=line, field="level")


def pair_from_dict(obj: object, path: str | Path = "<memory>", line: int = 1) -> LabeledPair:
    """One pair from a decoded JSON object; errors carry ``path`` and ``line``."""
    p = Path(path)
    if not isinstance(obj, dict):
        raise DataFormatError(p, f"expected a JSON object, got {type(obj).__name__}", line=line)
    query = _str_field(p, line, obj, "query", "", required=True)
    if "product" not in obj:
        raise DataFormatError(p, "missing; it is required", line=line, field="product")
    product = _product(p, line, obj["product"])
    level = _level(p, line, obj)
    source = _str_field(p, line, obj, "source", "", required=False) or ""
    tags_raw = obj.get("tags") or []
    if not isinstance(tags_raw, list) or not all(isinstance(t, str) for t in tags_raw):
        raise DataFormatError(p, "expected a list of strings", line=line, field="tags")
    assert query is not None
    return LabeledPair(query=query, product=product, level=level, source=source, tags=tuple(tags_raw))


def pair_to_dict(pair: LabeledPair) -> dict[str, Any]:
    """The JSON object for a pair; None fields, empty attributes/source/tags are left out."""
    product: dict[str, Any] = {"id": pair.product.id, "title": pair.product.title}
    for key in _PRODUCT_TEXT_FIELDS:
        value = getattr(pair.product, key)
        if value is not None:
            product[key] = value
    if pair.product.attributes:
        product["attributes"] = dict(pair.product.attributes)
    obj: dict[str, Any] = {"query": pair.query, "product": product, "level": pair.level}
    if pair.source:
        obj["source"] = pair.source
    if pair.tags:
        obj["tags"] = list(pair.tags)
    return obj


def load_jsonl(path: str | Path) -> list[LabeledPair]:
    """Read pairs from a JSONL file; errors name the file, line and field."""
    path = Path(path)
    pairs: list[LabeledPair] = []
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataFormatError(path, f"invalid JSON: {exc.msg} at column {exc.colno}", line=line_no) from None
            pairs.append(pair_from_dict(obj, path, line_no))
    return pairs


def save_jsonl(pairs: Iterable[LabeledPair], path: str | Path) -> int:
    """Write pairs as JSONL (UTF-8, one object per line, parents created); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for pair in pairs:
            fh.write(json.dumps(pair_to_dict(pair), ensure_ascii=False) + "\n")
            n += 1
    return n
