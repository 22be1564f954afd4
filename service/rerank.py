"""Rerank-compatible endpoints: taosr1 behind the HTTP APIs search stacks already call.

- `POST /v1/rerank`, `POST /v2/rerank`: the Cohere / Jina shape (the cohere SDK's `Client` and
  `ClientV2`, LangChain and LlamaIndex `CohereRerank`, Weaviate's reranker-cohere, OpenSearch's
  Cohere connector, Jina clients);
- `POST /rerank`: the TEI shape (text-embeddings-inference; Elasticsearch's `hugging_face`
  rerank service, which sends `documents` where TEI has `texts`; LlamaIndex's TEI reranker).

Each route is request → schema → `Service.score` (the one scoring core: all of a call's
documents are one query group sharing its prefix, cut into batcher jobs) → response schema.
`relevance_score` (TEI: `score`) is exactly the `score` `/relevance` gives the same product at
the default β. Errors come back in each API's own shape — Cohere/Jina `{"message"}`, TEI
`{"error", "error_type"}` — with taosr1's field and fix in the text; kinds and statuses are
service.errors' table. No `from __future__ import annotations` here: the request models are
built per app (the document limit is a setting) and FastAPI reads the route annotations.
"""

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from relevance.scoring import Scored
from service.errors import (
    STATUS_BY_KIND,
    FieldProblem,
    ServiceError,
    ValidationFailed,
    from_http_exception,
    from_request_validation,
)
from service.limits import check_rerank
from service.schemas import DEADLINE_HELP, NOT_BLANK, ModelRef, ProductIn, text_limits
from service.serving import Service
from service.settings import Settings

#: object-document keys that map to taosr1 product fields (`text` is the title when there is no `title`)
PRODUCT_FIELDS = ("title", "brand", "category", "attributes", "description")
#: taosr1 error kinds → TEI's error_type
TEI_ERROR_TYPES = {"validation": "Validation", "overloaded": "Overloaded", "deadline": "Overloaded", "not_ready": "Unhealthy"}


# -- request schemas -------------------------------------------------------------------------
class RerankDocument(BaseModel):
    """A document as an object: `{text}`, or taosr1 product fields. Other keys count only when
    `rank_fields` names them (then as attributes)."""

    model_config = ConfigDict(extra="allow")

    text: str | None = Field(None, description="The document text, scored as the product title when there is no `title`.")
    title: str | None = None
    brand: str | None = None
    category: str | None = None
    attributes: dict[str, str] | None = None
    description: str | None = None


class CohereRerankRequest(BaseModel):
    # unknown keys are ignored: clients send their vendor's extras (max_chunks_per_doc, priority, …)
    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="Accepted and ignored: taosr1 scores with its serving model (GET /models).")
    query: str = Field(..., description="The shopper's search query.")
    documents: list[str | RerankDocument] = Field(
        ..., description="Strings (product titles) or objects ({text} or taosr1 product fields)."
    )
    top_n: int | None = Field(None, ge=1, description="Return only the best top_n results (default: all).")
    return_documents: bool = Field(False, description="Echo each result's document as {text, …}.")
    max_tokens_per_doc: int | None = Field(None, ge=1, description="Accepted; taosr1 cuts fields by its own budgets.")
    rank_fields: list[str] | None = Field(None, description="Object keys that count (default: text and all product fields).")
    deadline_ms: float | None = Field(None, gt=0, description=DEADLINE_HELP)


class TeiRerankRequest(BaseModel):
    # texts or documents (Elasticsearch) must be there: stated in the schema, checked by the route
    model_config = ConfigDict(extra="ignore", json_schema_extra={"anyOf": [{"required": ["texts"]}, {"required": ["documents"]}]})

    query: str = Field(..., description="The shopper's search query.")
    texts: list[str] | None = Field(None, description="The documents (product titles) to rank.")
    documents: list[str] | None = Field(None, description="Same as texts: what Elasticsearch's hugging_face service sends.")
    return_text: bool = Field(False, description="Echo each result's text.")
    return_documents: bool | None = Field(None, description="Same as return_text (Elasticsearch).")
    top_n: int | None = Field(None, ge=1, description="Return only the best top_n results (Elasticsearch).")
    raw_scores: bool = Field(False, description="Accepted; taosr1's score is already its ranking score in [0, 1].")
    truncate: bool | None = Field(None, description="Accepted; long texts are always cut to TAOSR1_MAX_TITLE_CHARS.")
    truncation_direction: str | None = None
    deadline_ms: float | None = Field(None, gt=0, description=DEADLINE_HELP)


def _docs(item: Any, limit: int) -> Any:
    return Annotated[list[item], Field(min_length=1, max_length=limit)]


def _limited_document(s: Settings) -> type[RerankDocument]:
    """RerankDocument with the product-field limits limits.py checks, stated in its schema."""
    field = s.max_field_chars
    return create_model(
        "RerankDocument", __base__=RerankDocument,
        title=(str | None, Field(None, json_schema_extra=text_limits(s.max_title_chars, True))),
        brand=(str | None, Field(None, json_schema_extra=text_limits(field))),
        category=(str | None, Field(None, json_schema_extra=text_limits(field))),
        attributes=(dict[str, str] | None, Field(
            None, json_schema_extra={"maxProperties": s.max_attributes, "additionalProperties": {"type": "string", "maxLength": field}},
        )),
        description=(str | None, Field(None, json_schema_extra=text_limits(s.max_description_chars))),
    )


def request_models(limit: int, s: Settings | None = None) -> tuple[type[CohereRerankRequest], type[TeiRerankRequest]]:
    """The request models with 1 … `limit` documents (checked, and in the OpenAPI as minItems/maxItems).

    With settings `s`, the schemas also state the query's and the documents' limits (limits.py checks
    them) and the deadline_ms range. A document string is its product's title: not blank (free text
    longer than the title limit is cut, not refused).
    """
    described = f"At most {limit} (TAOSR1_MAX_RERANK_DOCUMENTS)."
    text, document, extra = str, RerankDocument, {}
    if s is not None:
        text = Annotated[str, Field(json_schema_extra={"minLength": 1, "pattern": NOT_BLANK})]
        document = _limited_document(s)
        extra = {
            "query": (str, Field(..., description="The shopper's search query.", json_schema_extra=text_limits(s.max_query_chars, True))),
            "deadline_ms": (float | None, Field(None, gt=0, le=s.max_deadline_ms, description=DEADLINE_HELP)),
        }
    cohere = create_model(
        "CohereRerankRequest", __base__=CohereRerankRequest, **extra,
        documents=(_docs(text | document, limit), Field(..., description=f"Strings (titles) or objects. {described}")),
    )
    tei = create_model(
        "TeiRerankRequest", __base__=TeiRerankRequest, **extra,
        texts=(_docs(text, limit) | None, Field(None, description=f"The documents (titles) to rank. {described}")),
        documents=(_docs(text, limit) | None, Field(None, description=f"Same as texts (Elasticsearch). {described}")),
    )
    return cohere, tei


# -- response schemas ------------------------------------------------------------------------
class RerankResultDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str


class CohereRerankResult(BaseModel):
    index: int = Field(..., description="Position of the document in the request.")
    relevance_score: float = Field(..., description="taosr1's ranking score in [0, 1]: /relevance's `score`.")
    document: RerankResultDocument | None = None
    label: str
    level: int
    probs: dict[str, float]
    tier: str
    scored_by: str = Field("model", description="model, or fallback (TAOSR1_OVERLOAD=fallback, under overload).")


class Taosr1Meta(BaseModel):
    model: ModelRef
    beta: float
    timings_ms: dict[str, float]


class CohereRerankResponse(BaseModel):
    id: str
    model: str
    results: list[CohereRerankResult]
    usage: dict[str, int]
    meta: dict[str, Any]
    taosr1: Taosr1Meta


class TeiRerankResult(BaseModel):
    index: int
    score: float = Field(..., description="taosr1's ranking score in [0, 1]: /relevance's `score`.")
    text: str | None = None


class CohereError(BaseModel):
    message: str
    kind: str
    fix: str
    fields: list[dict[str, str]] | None = None


class TeiError(BaseModel):
    error: str
    error_type: str


# -- documents → products ----------------------------------------------------------------------
def to_product_in(i: int, doc: str | RerankDocument, rank_fields: Sequence[str] | None, max_title: int) -> ProductIn:
    """The product a document is scored as (id = its index). Free text is cut to the title limit.

    >>> to_product_in(0, "usb cable", None, 5).title, to_product_in(1, RerankDocument(text="a", brand="B"), None, 9).brand
    ('usb c', 'B')
    >>> to_product_in(2, RerankDocument(title="mug", colour="red", brand="X"), ["title", "colour"], 9).model_dump(exclude_none=True)
    {'id': '2', 'title': 'mug', 'attributes': {'colour': 'red'}}
    """
    if isinstance(doc, str):
        return ProductIn(id=str(i), title=doc[:max_title])
    fields = doc.model_dump(exclude_none=True)
    if rank_fields is not None:
        fields = {k: v for k, v in fields.items() if k in rank_fields}
    attributes = dict(fields.get("attributes") or {})
    attributes.update({k: str(v) for k, v in fields.items() if k not in (*PRODUCT_FIELDS, "text") and rank_fields})
    title = fields["title"] if "title" in fields else fields.get("text", "")[:max_title]
    return ProductIn(
        id=str(i), title=title, brand=fields.get("brand"), category=fields.get("category"),
        attributes=attributes or None, description=fields.get("description"),
    )


def document_out(doc: str | RerankDocument) -> dict:
    """A document as echoed with `return_documents`: `{text}` plus the object's own keys."""
    if isinstance(doc, str):
        return {"text": doc}
    out = doc.model_dump(exclude_none=True)
    out.setdefault("text", doc.title or "")
    return out


# -- the one path to the scoring core ------------------------------------------------------------
@dataclass
class Ranked:
    order: list[int]  # document indices, best first (ties keep request order)
    scored: list[Scored]
    model: ModelRef
    beta: float
    tokens: int  # prompt tokens scored: the shared prefix once, plus every document's suffix
    timings: dict[str, float]
    scored_by: list[str] | None = None  # per document: "model" or "fallback"

    def score(self, i: int) -> float:
        return round(self.scored[i].score, 6)


async def rank(
    svc: Service, endpoint: str, query: str, docs: list[ProductIn], where: str,
    deadline_ms: float | None = None, request: Request | None = None,
) -> Ranked:
    """Score one query's documents as one group on the scoring core, exactly as /relevance would, within the deadline."""
    started = time.perf_counter()
    s = svc.settings
    check_rerank(query, docs, where, s)
    deadline = svc.deadline(deadline_ms, started)
    with svc.runtime.lease(s.retry_after_s) as model:
        products = [[d.to_product() for d in docs]]
        out = await svc.score(
            model, [query], products, s.beta, wait_for_room=False, chunk_pairs=s.max_products, deadline=deadline,
            endpoint=endpoint, receive=request.receive if request is not None else None,
        )
        [group], [scored], [by] = out.groups, out.scored, out.scored_by
        svc.record_scored(endpoint, scored)
        out.timings["total"] = (time.perf_counter() - started) * 1000
        svc.observe_stages(endpoint, out.timings)
        svc.note_deadline(endpoint, deadline)
        order = sorted(range(len(scored)), key=lambda i: -round(scored[i].score, 6))
        tokens = len(group.work.prefix_ids) + sum(len(x) for x in group.work.suffix_ids)
        timings = {k: round(v, 3) for k, v in out.timings.items()}
        return Ranked(order, scored, ModelRef(**model.ref.model_dump()), s.beta, tokens, timings, by)


def cohere_body(ranked: Ranked, req: CohereRerankRequest, version: str) -> dict:
    """The Cohere/Jina response: results best first, cut to top_n, with taosr1's extras."""
    results = []
    for i in ranked.order[: req.top_n]:
        sc = ranked.scored[i]
        results.append({
            "index": i, "relevance_score": ranked.score(i),
            "document": document_out(req.documents[i]) if req.return_documents else None,
            "label": sc.label, "level": sc.level, "probs": {str(k): round(v, 6) for k, v in sc.probs.items()}, "tier": sc.tier,
            "scored_by": ranked.scored_by[i] if ranked.scored_by else "model",
        })
    return {
        "id": str(uuid.uuid4()),
        "model": f"{ranked.model.name}@{ranked.model.version}",
        "results": results,
        "usage": {"total_tokens": ranked.tokens},
        "meta": {"api_version": {"version": version}, "billed_units": {"search_units": math.ceil(len(req.documents) / 100)}},
        "taosr1": {"model": ranked.model, "beta": ranked.beta, "timings_ms": ranked.timings},
    }


# -- errors in each API's own shape --------------------------------------------------------------
def explained(err: ServiceError) -> str:
    """One line with taosr1's message, every field's problem and its fix."""
    if not err.fields:
        return f"{err.message} (fix: {err.fix})" if err.fix else err.message
    return err.message + ": " + "; ".join(f"{f.field}: {f.problem}" + (f" (fix: {f.fix})" if f.fix else "") for f in err.fields)


def _shaped(err: ServiceError, body: dict) -> JSONResponse:
    headers = {"Retry-After": str(err.retry_after_s)} if err.retry_after_s is not None else {}
    return JSONResponse(body, status_code=STATUS_BY_KIND[err.kind], headers=headers)


def cohere_error(err: ServiceError) -> JSONResponse:
    body: dict = {"message": explained(err), "kind": err.kind, "fix": err.fix}
    if err.fields:
        body["fields"] = [vars(f) for f in err.fields]
    return _shaped(err, body)


def tei_error(err: ServiceError) -> JSONResponse:
    return _shaped(err, {"error": explained(err), "error_type": TEI_ERROR_TYPES.get(err.kind, "Backend")})


def validation_failed(exc: RequestValidationError, limit: int) -> ValidationFailed:
    """taosr1's validation error, with the document-count fixes spelled out."""
    err = from_request_validation(exc)
    for e, problem in zip(exc.errors(), err.fields, strict=True):
        if e.get("type") == "too_long":
            problem.fix = f"send at most {limit} documents per call (TAOSR1_MAX_RERANK_DOCUMENTS): split the page"
        elif e.get("type") == "too_short":
            problem.fix = "send at least one document"
    return err


def shaped_route(svc: Service, shape: Callable[[ServiceError], JSONResponse]) -> type[APIRoute]:
    """A route class whose errors (bad body or ServiceError) are answered in `shape`, counted like the app's."""
    limit = svc.settings.max_rerank_documents

    class ShapedRoute(APIRoute):
        def get_route_handler(self) -> Callable:
            handle = super().get_route_handler()

            async def shaped(request: Request) -> Response:
                try:
                    return await handle(request)
                except RequestValidationError as exc:
                    err: ServiceError = validation_failed(exc, limit)
                except ServiceError as exc:
                    err = exc
                except StarletteHTTPException as exc:  # a body that is not JSON: 400, in this API's shape too
                    if exc.status_code != 400:
                        raise
                    err = from_http_exception(exc)
                request.state.error_kind = err.kind  # read by the metrics middleware
                svc.metrics.errors.labels(kind=err.kind).inc()
                return shape(err)

            return shaped

    return ShapedRoute


# -- routers -----------------------------------------------------------------------------------
def cohere_router(svc: Service) -> APIRouter:
    """`/v1/rerank` and `/v2/rerank` in the Cohere/Jina shape."""
    router = APIRouter(route_class=shaped_route(svc, cohere_error), tags=["rerank"])
    cohere_request, _ = request_models(svc.settings.max_rerank_documents, svc.settings)
    max_title = svc.settings.max_title_chars

    def endpoint(version: str) -> Callable:
        path = f"/v{version}/rerank"

        @svc.count_failed_pairs(path, lambda req: len(req.documents))
        async def rerank(req: cohere_request, request: Request) -> dict:
            docs = [to_product_in(i, d, req.rank_fields, max_title) for i, d in enumerate(req.documents)]
            ranked = await rank(svc, path, req.query, docs, "documents", req.deadline_ms, request)
            return cohere_body(ranked, req, version)

        return rerank

    for version in ("1", "2"):
        router.add_api_route(
            f"/v{version}/rerank", endpoint(version), methods=["POST"], name=f"rerank_v{version}",
            response_model=CohereRerankResponse, response_model_exclude_none=True,
            summary=f"Rerank documents for a query (Cohere v{version} / Jina shape)",
            responses={status: {"model": CohereError} for status in (400, 422, 429, 503, 504)},
        )
    return router


def tei_router(svc: Service) -> APIRouter:
    """`/rerank` in the TEI shape (also what Elasticsearch's hugging_face rerank service sends)."""
    router = APIRouter(route_class=shaped_route(svc, tei_error), tags=["rerank"])
    _, tei_request = request_models(svc.settings.max_rerank_documents, svc.settings)
    max_title = svc.settings.max_title_chars

    @router.post(
        "/rerank", response_model=list[TeiRerankResult], response_model_exclude_none=True,
        summary="Rerank texts for a query (TEI shape)",
        responses={status: {"model": TeiError} for status in (400, 422, 429, 503, 504)},
    )
    @svc.count_failed_pairs("/rerank", lambda req: len(req.texts or req.documents or []))
    async def rerank_tei(req: tei_request, request: Request) -> list[dict]:
        where = "texts" if req.texts is not None or req.documents is None else "documents"
        texts = req.texts if where == "texts" else req.documents
        if texts is None:
            raise ValidationFailed("invalid request: texts", fix="send the documents to rank", fields=[
                FieldProblem("texts", "Field required", "send texts: [\"…\", …] (or documents: [...])")])
        docs = [to_product_in(i, t, None, max_title) for i, t in enumerate(texts)]
        ranked = await rank(svc, "/rerank", req.query, docs, where, req.deadline_ms, request)
        echo = req.return_text or bool(req.return_documents)
        return [{"index": i, "score": ranked.score(i), "text": texts[i] if echo else None} for i in ranked.order[: req.top_n]]

    return router
