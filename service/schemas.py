"""HTTP request and response models. Hard type checks live here; size limits that come from
settings are checked by `limits.py` so one error can name every offending field.

`limited_models(settings)` gives the request models an app serves: the same models whose JSON
schema (and so the OpenAPI) states every limit `limits.py` enforces — maxItems/minItems,
maxLength/minLength, non-blank strings (`pattern: \\S`), maxProperties, the explain cap, the
deadline range — so generated clients and fuzzers see the real contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from relevance.types import Product

#: a string with at least one character that is not whitespace — spelled out, so that JSON schema's
#: (ECMA) regex and Python's `re` agree on it exactly; limits.py refuses blank required strings with it
NOT_BLANK = "[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"
DEADLINE_HELP = (
    "Time budget for this request in milliseconds, from arrival to answer (default TAOSR1_DEADLINE_MS). "
    "Work that cannot finish in time is refused (429/422) or, with TAOSR1_OVERLOAD=fallback, scored by the fallback."
)


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., min_length=1, max_length=256, description="Your product id, echoed back.")
    title: str = Field(..., description="Product title as shown in search.")
    brand: str | None = None
    category: str | None = None
    attributes: dict[str, str] | None = Field(None, description="Key attributes, e.g. {'color': 'blue'}.")
    description: str | None = None

    def to_product(self) -> Product:
        return Product(
            id=self.id,
            title=self.title,
            brand=self.brand or None,
            category=self.category or None,
            attributes=dict(self.attributes or {}),
            description=self.description or None,
        )


def _explain_cap(schema: dict[str, Any], cls: type) -> None:
    """JSON schema: with explain=true, products has at most `max_explain_products` items."""
    cap = getattr(cls, "max_explain_products", None)
    if cap:
        schema["if"] = {"properties": {"explain": {"const": True}}, "required": ["explain"]}
        schema["then"] = {"properties": {"products": {"maxItems": cap}}}


class RelevanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_explain_cap)
    max_explain_products: ClassVar[int | None] = None  # stated in the schema by limited_models

    query: str = Field(..., description="The shopper's search query.")
    products: list[ProductIn] = Field(..., description="Candidate products to score for this query.")
    explain: bool = Field(False, description="Also generate the model's reasoning (slow path).")
    beta: float | None = Field(None, ge=0.0, le=1.0, description="CumPT β for the tier (default from settings).")
    deadline_ms: float | None = Field(None, gt=0, description=DEADLINE_HELP)


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    product: ProductIn


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pairs: list[PairIn]
    beta: float | None = Field(None, ge=0.0, le=1.0)
    deadline_ms: float | None = Field(None, gt=0, description=DEADLINE_HELP)


class ProductResult(BaseModel):
    id: str
    label: str = Field(..., description="Name of the most probable level.")
    level: int = Field(..., description="Most probable level: 4 Excellent, 3 Related, 2 Mismatch, 1 Irrelevant.")
    probs: dict[str, float] = Field(..., description="Probability of each level, keyed by level.")
    tier: str = Field(..., description="CumPT tier at β: Good, Mid or Bad.")
    score: float = Field(..., description="Ranking score in [0, 1] (expected level, rescaled).")
    cumpt_level: int
    expected_level: float
    reasoning: str | None = None
    reasoning_error: str | None = Field(
        None, description="Why there is no (whole) rationale: a parse error, 'skipped: deadline', 'cut: deadline …', 'skipped: fallback'."
    )
    scored_by: Literal["model", "fallback"] = Field(
        "model", description="model: the serving model; fallback: the calibrated MiniLM fallback (TAOSR1_OVERLOAD=fallback, under overload)."
    )
    flags: list[str] | None = Field(
        None,
        description="Present when the listing looks like it addresses the ranking model ('instruction_in_listing') "
        "or holds keyword stuffing: pasted search-term lists, a phrase repeated back to back or an attribute keyed as a keyword list such as 'search_terms' ('keyword_stuffing'). "
        "Reported beside the score; the judge reads the listing without the flagged text.",
    )


class ModelRef(BaseModel):
    name: str
    version: str
    stage: str
    engine: str
    label_scheme: str
    prompt_version: str


class RelevanceResponse(BaseModel):
    query: str
    results: list[ProductResult]
    model: ModelRef
    beta: float
    timings_ms: dict[str, float]


class BatchPairResult(ProductResult):
    query: str


class BatchResponse(BaseModel):
    results: list[BatchPairResult]
    model: ModelRef
    beta: float
    n: int
    timings_ms: dict[str, float]


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field("latest", description="A registry version name (e.g. 'v0003'), or 'latest'.")


# -- the request models with the settings' limits in their JSON schema ---------------------------
def text_limits(limit: int, required: bool = False) -> dict[str, Any]:
    """JSON-schema keywords of a string checked by limits.py: at most `limit` characters; not blank when required."""
    return {"maxLength": limit, **({"minLength": 1, "pattern": NOT_BLANK} if required else {})}


def items_limits(limit: int) -> dict[str, Any]:
    return {"minItems": 1, "maxItems": limit}


@dataclass(frozen=True)
class LimitedModels:
    product: type[ProductIn]
    relevance: type[RelevanceRequest]
    pair: type[PairIn]
    batch: type[BatchRequest]


def limited_product(s) -> type[ProductIn]:
    """ProductIn with `s`'s field limits (service.settings.Settings) in its schema."""
    field = s.max_field_chars
    return create_model(
        "ProductIn", __base__=ProductIn,
        title=(str, Field(..., description="Product title as shown in search.", json_schema_extra=text_limits(s.max_title_chars, True))),
        brand=(str | None, Field(None, json_schema_extra=text_limits(field))),
        category=(str | None, Field(None, json_schema_extra=text_limits(field))),
        attributes=(dict[str, str] | None, Field(
            None, description="Key attributes, e.g. {'color': 'blue'}.",
            json_schema_extra={"maxProperties": s.max_attributes, "additionalProperties": {"type": "string", "maxLength": field}},
        )),
        description=(str | None, Field(None, json_schema_extra=text_limits(s.max_description_chars))),
    )


def limited_models(s) -> LimitedModels:
    """The request models of /relevance and /relevance/batch with `s`'s limits stated in their schemas.

    limits.py still does the checking (one 422 naming every field with its fix); the schema says
    the same numbers, so every schema-valid request is accepted. Product ids need not be unique:
    results come back in input order, each echoing its product's id.
    """
    product = limited_product(s)
    deadline = (float | None, Field(None, gt=0, le=s.max_deadline_ms, description=DEADLINE_HELP))
    query = (str, Field(..., description="The shopper's search query.", json_schema_extra=text_limits(s.max_query_chars, True)))
    relevance = create_model(
        "RelevanceRequest", __base__=RelevanceRequest, query=query, deadline_ms=deadline,
        products=(list[product], Field(
            ..., description=f"Candidate products to score for this query (results come back in this order; at most "
            f"{s.max_explain_products} with explain=true).", json_schema_extra=items_limits(s.max_products),
        )),
    )
    relevance.max_explain_products = s.max_explain_products
    pair = create_model("PairIn", __base__=PairIn, query=query, product=(product, ...))
    batch = create_model(
        "BatchRequest", __base__=BatchRequest, deadline_ms=deadline,
        pairs=(list[pair], Field(..., json_schema_extra=items_limits(s.max_batch_pairs))),
    )
    return LimitedModels(product, relevance, pair, batch)
