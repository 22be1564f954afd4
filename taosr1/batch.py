"""`taosr1 batch score`: score a file of pairs offline — locally with a progress bar, or on Ray Data — resumably.

Input and output are NDJSON, CSV or Parquet (format from the extension, relevance.batch_io).
Every row is checked and turned into its result record exactly as a service job does it
(service.batch_records) and scored by the same scoring core as `/relevance` (the model, the
retrieval config and β of `taosr1 eval` / the service: `load_judge`). Output is appended one
chunk at a time, each chunk durable before the next starts; a re-run with the same --output
skips the rows whose ids are already there and appends the rest (Parquet: part files in
`<output>.parts/`, merged into the output when the run completes). `--ray` runs the same
scorer in an actor pool (taosr1.batch_ray).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from relevance.batch_io import RowError, append_records, done_ids, finish_output, format_of, iter_rows, row_id


class PairScorer:
    """One engine (through the scoring core) scoring chunks of rows into result records."""

    def __init__(self, settings, model_dir: Path | None = None):
        from taosr1.cli import load_judge

        judge, path = load_judge(settings, model_dir)
        if not hasattr(judge, "core"):
            raise ValueError(f"{path} is a cross-encoder baseline: batch scoring needs a taosr1 LLM checkpoint")
        self.settings = settings
        self.core = judge.core
        self.path = path
        m = judge.engine.manifest
        self.model = {"name": m.name, "version": m.version, "stage": m.stage, "engine": judge.engine.name, "path": str(path)}

    def score_rows(self, rows: list[tuple[int, dict | RowError]], beta: float) -> list[dict]:
        """Result records of `rows` ((line, row) pairs), in their order."""
        from service.batch_records import Pair, check_row, pair_record

        checked = [check_row(line, obj, self.settings) for line, obj in rows]
        pairs = [c for c in checked if isinstance(c, Pair)]
        scored = iter(self.core.score_pairs([p.query for p in pairs], [p.product for p in pairs], beta) if pairs else [])
        name, version = self.model["name"], self.model["version"]
        return [pair_record(c, next(scored), name, version) if isinstance(c, Pair) else c for c in checked]

    def close(self) -> None:
        self.core.engine.close()


def pending_rows(path: Path, fmt: str, done: Counter) -> Iterator[tuple[int, dict | RowError]]:
    """The input's rows whose ids are not (yet) in the output; each id in `done` skips one row."""
    for line, obj in iter_rows(path, fmt):
        rid = row_id(obj, line)
        if done[rid] > 0:
            done[rid] -= 1
            continue
        yield line, obj


def chunked(rows, size: int) -> Iterator[list]:
    chunk: list = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_local(args, settings, inp: Path, out: Path, fmt_in: str, fmt_out: str, total: int, skipped: int, done: Counter) -> dict:
    from tqdm import tqdm

    scorer = PairScorer(settings, Path(args.model) if args.model else None)
    counts = {"scored": 0, "failed": 0}
    try:
        with tqdm(total=total, initial=skipped, desc="batch", unit="pair", file=sys.stderr, disable=args.quiet) as bar:
            for chunk in chunked(pending_rows(inp, fmt_in, done), args.chunk):
                records = scorer.score_rows(chunk, settings.beta)
                append_records(out, records, fmt_out)
                failed = sum(1 for r in records if "error" in r)
                counts["failed"] += failed
                counts["scored"] += len(records) - failed
                bar.update(len(records))
    finally:
        scorer.close()
    return {**counts, "model": scorer.model}


def cmd_batch_score(args) -> int:
    from taosr1.cli import _log, _settings

    inp, out = Path(args.input), Path(args.output)
    if not inp.is_file():
        raise FileNotFoundError(2, "no such file", str(inp))
    fmt_in, fmt_out = format_of(inp, args.input_format), format_of(out, args.output_format)
    settings = _settings(engine=args.engine, retrieval=False if args.no_retrieval else None, threads=args.threads, beta=args.beta)
    done = Counter(done_ids(out, fmt_out))
    skipped = sum(done.values())
    total = sum(1 for _ in iter_rows(inp, fmt_in))
    if skipped:
        _log(f"resuming: {skipped} of {total} rows are already in {out}")
    started = time.perf_counter()
    if args.ray:
        from taosr1.batch_ray import run_ray

        summary = run_ray(args, settings, inp, out, fmt_in, fmt_out, total, skipped, done)
    else:
        summary = run_local(args, settings, inp, out, fmt_in, fmt_out, total, skipped, done)
    finish_output(out, fmt_out)
    seconds = time.perf_counter() - started
    n = summary["scored"] + summary["failed"]
    print(json.dumps({
        "input": str(inp), "output": str(out), "rows": total, "skipped": skipped, **summary,
        "seconds": round(seconds, 2), "pairs_per_s": round(n / seconds, 2) if seconds and n else None,
        "ray": bool(args.ray),
    }))
    return 0


def add_batch_commands(sub) -> None:
    """`taosr1 batch score`."""
    batch = sub.add_parser("batch", help="offline batch scoring of large files").add_subparsers(dest="batch_command", required=True)
    s = batch.add_parser(
        "score", help="score every (query, product) row of a file (NDJSON, CSV or Parquet) into an output file; resumable"
    )
    s.add_argument("--input", required=True, help="pairs: .ndjson/.jsonl ({id?, query, product} per line), .csv or .parquet")
    s.add_argument("--output", required=True, help="results (.ndjson, .csv or .parquet); an existing one is resumed")
    s.add_argument("--input-format", choices=["ndjson", "csv", "parquet"], help="instead of the extension")
    s.add_argument("--output-format", choices=["ndjson", "csv", "parquet"], help="instead of the extension")
    s.add_argument("--model", help="checkpoint folder (default: the embedded default)")
    s.add_argument("--engine", choices=["transformers", "vllm"])
    s.add_argument("--threads", type=int, help="intra-op threads (default: TAOSR1_THREADS, else all cores)")
    s.add_argument("--beta", type=float, help="CumPT β (default: TAOSR1_BETA)")
    s.add_argument("--no-retrieval", action="store_true", help="prompt without retrieved context")
    s.add_argument("--chunk", type=int, default=256, help="rows per step (each step's output is written durably)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--ray", action="store_true", help="run on Ray Data: an actor pool, one engine per actor")
    s.add_argument("--ray-address", help="a Ray cluster (e.g. ray://head:10001 or auto); default: a local Ray instance")
    s.add_argument("--actors", type=int, default=1, help="--ray: actors in the pool, each holding one engine")
    s.add_argument("--actor-cpus", type=float, default=1, help="--ray: CPUs per actor (also its threads when --threads is unset)")
    s.add_argument("--actor-gpus", type=float, default=0, help="--ray: GPUs per actor (e.g. 1 with --engine vllm on a GPU cluster)")
    s.set_defaults(func=cmd_batch_score)
