"""Size limits from settings, checked after parsing so one 422 names every offending field.

The request schemas state the same limits (service.schemas.limited_models), so the OpenAPI is
the contract these checks enforce.
"""

from __future__ import annotations

import re

from service.errors import FieldProblem, ValidationFailed
from service.schemas import NOT_BLANK, ProductIn
from service.settings import Settings


def _text(problems: list[FieldProblem], name: str, value: str | None, limit: int, required: bool = False) -> None:
    if value is None:
        return
    if required and not re.search(NOT_BLANK, value):
        problems.append(FieldProblem(name, "must not be empty", "send a non-empty string"))
    elif len(value) > limit:
        problems.append(FieldProblem(name, f"{len(value)} characters, limit {limit}", f"truncate to at most {limit} characters"))


def product_problems(p: ProductIn, where: str, s: Settings) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    _text(problems, f"{where}.title", p.title, s.max_title_chars, required=True)
    _text(problems, f"{where}.brand", p.brand, s.max_field_chars)
    _text(problems, f"{where}.category", p.category, s.max_field_chars)
    _text(problems, f"{where}.description", p.description, s.max_description_chars)
    attrs = p.attributes or {}
    if len(attrs) > s.max_attributes:
        problems.append(FieldProblem(f"{where}.attributes", f"{len(attrs)} attributes, limit {s.max_attributes}", "send the most important attributes only"))
    for key, value in attrs.items():
        _text(problems, f"{where}.attributes.{key}", value, s.max_field_chars)
    return problems


def raise_if(problems: list[FieldProblem]) -> None:
    if problems:
        names = ", ".join(p.field for p in problems[:10])
        more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ValidationFailed(f"invalid request: {names}{more}", fix="see 'fields' for each problem and its fix", fields=problems)


def check_relevance(query: str, products: list[ProductIn], explain: bool, s: Settings) -> None:
    problems: list[FieldProblem] = []
    _text(problems, "query", query, s.max_query_chars, required=True)
    if not products:
        problems.append(FieldProblem("products", "must not be empty", "send at least one product"))
    if len(products) > s.max_products:
        problems.append(FieldProblem("products", f"{len(products)} products, limit {s.max_products}", f"split into calls of at most {s.max_products} products, or use /relevance/batch"))
    if explain and len(products) > s.max_explain_products:
        problems.append(FieldProblem("explain", f"explain=true with {len(products)} products, limit {s.max_explain_products}", f"explain at most {s.max_explain_products} products per call"))
    for i, p in enumerate(products):
        problems += product_problems(p, f"products[{i}]", s)
    raise_if(problems)


def check_batch(pairs: list, s: Settings) -> None:
    problems: list[FieldProblem] = []
    if not pairs:
        problems.append(FieldProblem("pairs", "must not be empty", "send at least one pair"))
    if len(pairs) > s.max_batch_pairs:
        problems.append(FieldProblem("pairs", f"{len(pairs)} pairs, limit {s.max_batch_pairs}", f"split into calls of at most {s.max_batch_pairs} pairs"))
    for i, pair in enumerate(pairs):
        _text(problems, f"pairs[{i}].query", pair.query, s.max_query_chars, required=True)
        problems += product_problems(pair.product, f"pairs[{i}].product", s)
    raise_if(problems)


def check_rerank(query: str, documents: list[ProductIn], where: str, s: Settings) -> None:
    """A rerank call (service/rerank.py): the query, then every document as the product it maps to.

    How many documents (1 … TAOSR1_MAX_RERANK_DOCUMENTS) is checked by the request schema.
    """
    problems: list[FieldProblem] = []
    _text(problems, "query", query, s.max_query_chars, required=True)
    for i, p in enumerate(documents):
        problems += product_problems(p, f"{where}[{i}]", s)
    raise_if(problems)
