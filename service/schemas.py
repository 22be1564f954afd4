"""HTTP request and response models. Hard type checks live here; size limits that come from
settings are checked by `limits.py` so one error can name every offending field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from relevance.types import Product


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


class RelevanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(..., description="The shopper's search query.")
    products: list[ProductIn] = Field(..., description="Candidate products to score for this query.")
    explain: bool = Field(False, description="Also generate the model's reasoning (slow path).")
    beta: float | None = Field(None, ge=0.0, le=1.0, description="CumPT β for the tier (default from settings).")


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    product: ProductIn


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pairs: list[PairIn]
    beta: float | None = Field(None, ge=0.0, le=1.0)


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
    reasoning_error: str | None = None
    flags: list[str] | None = Field(
        None,
        description="Present when the listing looks like it addresses the ranking model "
        "(['instruction_in_listing']); reported beside the score, never changes it.",
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
