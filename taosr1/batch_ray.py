"""`taosr1 batch score --ray`: the same scoring on Ray Data — read → group by query → actor pool → write.

The driver streams the input (relevance.batch_io, so bad rows and generated ids are the same as
locally), skips the ids already in the output, and hands the rows to Ray in blocks of Arrow
tables through the object store (no shared filesystem needed). The dataset is sorted by query,
so a query's products arrive in the same batch and share their prompt prefix; `map_batches`
runs `RayScorer` — a callable class, one engine per actor (`taosr1.batch.PairScorer`:
transformers or vLLM through the engine factory) — in a pool of `--actors`; the driver writes
each finished batch durably (relevance.batch_io.append_records), so an interrupted run resumes
by id. Without --ray-address it starts a local Ray instance and shuts it down after.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from relevance.batch_io import RowError, append_records, row_id
from taosr1.batch import chunked, pending_rows

BLOCK_ROWS = 10_000
RUNTIME_ENV = {"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}}


def to_block(rows: list[tuple[int, dict | RowError]]):
    """Arrow table of rows: line, id, query (the sort key) and the row itself as JSON text."""
    import pyarrow as pa

    cols: dict[str, list] = {"line": [], "id": [], "query": [], "row": []}
    for line, obj in rows:
        cols["line"].append(line)
        cols["id"].append(row_id(obj, line))
        query = obj.get("query") if isinstance(obj, dict) else None
        cols["query"].append(query if isinstance(query, str) else "")
        cols["row"].append(json.dumps({"__row_error__": obj.message} if isinstance(obj, RowError) else obj, ensure_ascii=False))
    return pa.table(cols)


class RayScorer:
    """The Ray actor: one engine, scoring batches of rows into JSON result records."""

    def __init__(self, settings: dict, model_dir: str | None, beta: float):
        from service.settings import Settings
        from taosr1.batch import PairScorer

        self.scorer = PairScorer(Settings(**settings), Path(model_dir) if model_dir else None)
        self.beta = beta

    def __call__(self, batch: dict) -> dict:
        rows = []
        for line, text in zip(batch["line"], batch["row"], strict=True):
            obj = json.loads(text)
            rows.append((int(line), RowError(obj["__row_error__"]) if "__row_error__" in obj else obj))
        records = self.scorer.score_rows(rows, self.beta)
        return {"record": [json.dumps(r, ensure_ascii=False) for r in records]}


def _init_ray(args) -> None:
    import logging

    import ray

    if args.ray_address:
        ray.init(address=args.ray_address, runtime_env=RUNTIME_ENV, logging_level=logging.WARNING)
    else:
        cpus = max(2, int(args.actors * args.actor_cpus) + 1)  # the actors, plus one for reading and sorting
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, runtime_env=RUNTIME_ENV, logging_level=logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ours is on stderr


def build_dataset(args, settings, inp: Path, fmt_in: str, done: Counter):
    """The pending rows as a Ray dataset, sorted by query, mapped through the actor pool."""
    import ray

    refs = [ray.put(to_block(rows)) for rows in chunked(pending_rows(inp, fmt_in, done), BLOCK_ROWS)]
    if not refs:
        return None
    threads = settings.threads or max(1, int(args.actor_cpus))
    actor_settings = settings.model_copy(update={"threads": threads}).model_dump()
    ds = ray.data.from_arrow_refs(refs).sort("query")
    return ds.map_batches(
        RayScorer,
        fn_constructor_kwargs={"settings": actor_settings, "model_dir": args.model, "beta": settings.beta},
        batch_size=args.chunk,
        batch_format="numpy",
        concurrency=args.actors,
        num_cpus=args.actor_cpus,
        num_gpus=args.actor_gpus or None,
    )


def run_ray(args, settings, inp: Path, out: Path, fmt_in: str, fmt_out: str, total: int, skipped: int, done: Counter) -> dict:
    import ray
    from tqdm import tqdm

    _init_ray(args)
    counts = {"scored": 0, "failed": 0}
    model = None
    try:
        ds = build_dataset(args, settings, inp, fmt_in, done)
        with tqdm(total=total, initial=skipped, desc="batch (ray)", unit="pair", file=sys.stderr, disable=args.quiet) as bar:
            for batch in ds.iter_batches(batch_size=args.chunk, batch_format="numpy") if ds is not None else []:
                records = [json.loads(r) for r in batch["record"]]
                append_records(out, records, fmt_out)
                failed = sum(1 for r in records if "error" in r)
                counts["failed"] += failed
                counts["scored"] += len(records) - failed
                model = model or next(({"name": r["model"], "version": r["model_version"]} for r in records if "model" in r), None)
                bar.update(len(records))
    finally:
        ray.shutdown()
    return {**counts, "model": model, "actors": args.actors}
