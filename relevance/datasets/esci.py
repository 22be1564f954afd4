"""Loader for Amazon Shopping Queries (ESCI) files, official columns or the simplified form.

Official: example_id, query, product_id, product_title, product_description (HTML),
product_bullet_point, product_brand, product_color, esci_label (…). Simplified: query,
product_id, product_text (title, brand and description run together), esci_label, with
full labels or single letters. It maps labels to levels and cleans text; it does not
filter locales or splits, and it knows nothing about prompts.
"""

from __future__ import annotations

from pathlib import Path

from relevance.datasets.csvrows import iter_rows, read_header
from relevance.datasets.errors import DataFormatError
from relevance.datasets.labels import esci_level
from relevance.datasets.text import none_if_blank, normalize_space, split_product_text, strip_html
from relevance.types import LabeledPair, Product

OFFICIAL_REQUIRED = ("query", "product_id", "product_title", "esci_label")
SIMPLIFIED_REQUIRED = ("query", "product_id", "product_text", "esci_label")

SOURCE = "esci"


def is_esci_header(header: list[str]) -> bool:
    """True when a header carries ESCI labels in either layout."""
    names = set(header)
    return "esci_label" in names and ("product_title" in names or "product_text" in names)


def _description(row: dict[str, str]) -> str | None:
    parts: list[str] = []
    desc = row.get("product_description") or ""
    if desc.strip():
        parts.append(strip_html(desc))
    bullets = [normalize_space(b) for b in (row.get("product_bullet_point") or "").splitlines()]
    bullets = [b for b in bullets if b]
    if bullets:
        parts.append("\n".join(f"- {b}" for b in bullets))
    return none_if_blank("\n".join(parts))


def _required(path: Path, line: int, row: dict[str, str], name: str) -> str:
    value = (row.get(name) or "").strip()
    if not value:
        raise DataFormatError(path, "empty value; every row needs one", line=line, field=name)
    return value


def _level(path: Path, line: int, raw: str) -> int:
    try:
        return esci_level(raw)
    except ValueError as exc:
        raise DataFormatError(path, str(exc), line=line, field="esci_label") from None


def load_esci(path: str | Path) -> list[LabeledPair]:
    """Read an ESCI CSV (official columns or simplified ``product_text``) into pairs.

    Official rows: the description is the HTML description as plain text followed by the
    bullet points ("- " lines); ``product_color`` goes to ``attributes["color"]``. Simplified
    rows: ``product_text`` is split into title, brand and description by
    :func:`relevance.datasets.text.split_product_text`. Each pair has ``source="esci"`` and the
    original label as a tag (``"esci:E"``). Errors name the file, line and field.
    """
    path = Path(path)
    header = read_header(path)
    simplified = "product_text" in header and "product_title" not in header
    required = SIMPLIFIED_REQUIRED if simplified else OFFICIAL_REQUIRED
    pairs: list[LabeledPair] = []
    for line, row in iter_rows(path, required):
        query = _required(path, line, row, "query")
        product_id = _required(path, line, row, "product_id")
        raw_label = _required(path, line, row, "esci_label")
        level = _level(path, line, raw_label)
        if simplified:
            text = _required(path, line, row, "product_text")
            title, brand, description = split_product_text(text, query)
            product = Product(id=product_id, title=title, brand=brand, description=description)
        else:
            attributes: dict[str, str] = {}
            color = none_if_blank(row.get("product_color"))
            if color:
                attributes["color"] = color
            product = Product(
                id=product_id,
                title=normalize_space(_required(path, line, row, "product_title")),
                brand=none_if_blank(row.get("product_brand")),
                attributes=attributes,
                description=_description(row),
            )
        tag = f"esci:{raw_label.strip()[0].upper()}"
        pairs.append(LabeledPair(query=query, product=product, level=level, source=SOURCE, tags=(tag,)))
    return pairs
