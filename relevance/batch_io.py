"""Batch scoring files: pairs in (NDJSON, CSV, Parquet), result records out, row by row.

Input rows are `{"id"?, "query", "product": {...}}` (NDJSON), or CSV/Parquet columns `id`,
`query` and either a `product` column (an object, or its JSON text) or flat product columns
(`product_id`, `title`, `brand`, `category`, `description`, `attributes` as JSON text).
`iter_rows` yields every record with its 1-based row number and either the raw dict or a
`RowError` — a bad row never stops the reading (one result line per input row). Blank NDJSON
lines are not rows. The format comes from the file's extension (`format_of`).

Output records are flat dicts; `append_records` writes one chunk with one write and an fsync
(NDJSON, CSV) or one part file renamed into place (Parquet: `<out>.parts/`, merged by
`finish_output`), so an interrupted run leaves only whole chunks; `done_ids` reads back what
a previous run finished. Shared by the service's jobs, `taosr1 batch score` and its Ray path;
knows nothing about models, HTTP or Ray.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

csv.field_size_limit(2**31 - 1)

FORMATS = ("ndjson", "csv", "parquet")
_EXTENSIONS = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_FLAT_PRODUCT = ("title", "brand", "category", "description", "attributes")
#: output columns of CSV and Parquet (NDJSON writes each record as it is, without null fields)
COLUMNS = (
    "id", "line", "query", "product_id", "label", "level", "probs", "tier", "score", "cumpt_level", "expected_level",
    "flags", "model", "model_version", "error",
)
_JSON_COLUMNS = ("probs", "flags", "error")


@dataclass(frozen=True)
class RowError:
    """A row that could not be decoded (its result line is an error)."""

    message: str


def format_of(path: str | Path, given: str | None = None) -> str:
    """The format named by `given`, or by the file's extension.

    >>> format_of("pairs.jsonl"), format_of("x.CSV"), format_of("out.parquet"), format_of("x.bin", "csv")
    ('ndjson', 'csv', 'parquet', 'csv')
    """
    if given:
        if given not in FORMATS:
            raise ValueError(f"unknown format {given!r}: use one of {', '.join(FORMATS)}")
        return given
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: cannot tell the format from the extension; name it .ndjson/.jsonl, .csv or .parquet")
    return fmt


def _ndjson_rows(path: Path) -> Iterator[dict | RowError]:
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield RowError(f"invalid JSON: {exc}")
                continue
            yield obj if isinstance(obj, dict) else RowError(f"expected a JSON object, got {type(obj).__name__}")


def flat_to_pair(row: dict) -> dict | RowError:
    """A CSV/Parquet row as the NDJSON pair shape (product from a `product` column or flat columns).

    >>> flat_to_pair({"id": "1", "query": "q", "product_id": "p", "title": "T", "brand": ""})
    {'id': '1', 'query': 'q', 'product': {'id': 'p', 'title': 'T'}}
    """
    out: dict = {k: row[k] for k in ("id", "query") if row.get(k) not in (None, "")}
    product = row.get("product")
    if isinstance(product, str) and product.strip():
        try:
            product = json.loads(product)
        except json.JSONDecodeError as exc:
            return RowError(f"product: invalid JSON: {exc}")
    if not isinstance(product, dict):
        product = {"id": row.get("product_id")}
        for key in _FLAT_PRODUCT:
            value = row.get(key)
            if value is not None and value != "":
                product[key] = value
        attrs = product.get("attributes")
        if isinstance(attrs, str):
            try:
                product["attributes"] = json.loads(attrs)
            except json.JSONDecodeError as exc:
                return RowError(f"attributes: invalid JSON: {exc}")
    out["product"] = {k: v for k, v in product.items() if v is not None}
    if isinstance(out["product"].get("id"), int | float) and not isinstance(out["product"]["id"], bool):
        out["product"]["id"] = str(out["product"]["id"])  # numeric product ids in a Parquet/CSV column
    return out


def _csv_rows(path: Path) -> Iterator[dict | RowError]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            if None in row:  # more fields than the header
                yield RowError(f"{len(row) - 1 + len(row[None])} fields but the header has {len(reader.fieldnames or [])}")
                continue
            yield flat_to_pair(row)


def _parquet_rows(path: Path, batch_rows: int = 1024) -> Iterator[dict | RowError]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            yield flat_to_pair(row)


def iter_rows(path: str | Path, fmt: str | None = None) -> Iterator[tuple[int, dict | RowError]]:
    """(row number from 1, the pair dict or a RowError) for every record of `path`, streamed."""
    path = Path(path)
    reader = {"ndjson": _ndjson_rows, "csv": _csv_rows, "parquet": _parquet_rows}[format_of(path, fmt)]
    yield from enumerate(reader(path), start=1)


def row_id(obj: dict | RowError, line: int) -> str:
    """The row's `id` (as text), or `line-N` when it has none (stable across re-runs).

    >>> row_id({"id": 7}, 3), row_id({}, 3), row_id(RowError("bad"), 4)
    ('7', 'line-3', 'line-4')
    """
    if isinstance(obj, dict) and obj.get("id") not in (None, ""):
        return str(obj["id"])
    return f"line-{line}"


# -- output -------------------------------------------------------------------------------------
def _flat(record: dict) -> dict:
    out = {}
    for col in COLUMNS:
        value = record.get(col)
        out[col] = json.dumps(value, ensure_ascii=False) if col in _JSON_COLUMNS and value is not None else value
    return out


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


def _fsync_append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def append_records(path: str | Path, records: list[dict], fmt: str | None = None) -> None:
    """Append one chunk of result records durably: all of it or (after a crash) none of it."""
    path = Path(path)
    fmt = format_of(path, fmt)
    if not records:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "ndjson":
        text = "".join(json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False) + "\n" for r in records)
        _fsync_append(path, text.encode())
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        if not path.exists() or path.stat().st_size == 0:
            writer.writeheader()
        writer.writerows(_flat(r) for r in records)
        _fsync_append(path, buf.getvalue().encode())
    else:
        _append_parquet_part(path, records)


def _arrow_schema():
    import pyarrow as pa

    types = {"line": pa.int64(), "level": pa.int64(), "cumpt_level": pa.int64(), "score": pa.float64(), "expected_level": pa.float64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])


def _append_parquet_part(path: Path, records: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = _parts_dir(path)
    parts.mkdir(parents=True, exist_ok=True)
    n = len(list(parts.glob("part-*.parquet")))
    table = pa.Table.from_pylist([_flat(r) for r in records], schema=_arrow_schema())
    tmp = parts / f".tmp-{n:06d}.parquet"
    pq.write_table(table, tmp)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, parts / f"part-{n:06d}.parquet")


def finish_output(path: str | Path, fmt: str | None = None) -> None:
    """Parquet: merge the part files of a finished run into `path` (atomically). Others: nothing."""
    path = Path(path)
    if format_of(path, fmt) != "parquet":
        return
    import pyarrow.parquet as pq

    parts = _parts_dir(path)
    files = sorted(parts.glob("part-*.parquet")) if parts.is_dir() else []
    if not files:
        return
    files = ([path] if path.exists() else []) + files  # a re-run after a finished run appends to it
    tmp = path.with_name(f".{path.name}.tmp")
    with pq.ParquetWriter(tmp, _arrow_schema()) as writer:
        for f in files:
            writer.write_table(pq.read_table(f, schema=_arrow_schema()))
    os.replace(tmp, path)
    shutil.rmtree(parts)


def _trim_partial_tail(path: Path) -> None:
    """Cut a trailing partial line (a write interrupted by a crash) off a text output."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)


def read_records(path: str | Path, fmt: str | None = None) -> Iterator[dict]:
    """The result records already in an output (Parquet: its part files too), JSON columns decoded."""
    path = Path(path)
    fmt = format_of(path, fmt)
    if fmt == "ndjson":
        if path.exists():
            with path.open(encoding="utf-8") as fh:
                yield from (json.loads(line) for line in fh if line.strip())
        return
    if fmt == "csv":
        rows: Iterable[dict] = csv.DictReader(path.open(newline="", encoding="utf-8")) if path.exists() else []
    else:
        import pyarrow.parquet as pq

        parts = _parts_dir(path)
        files = ([path] if path.exists() else []) + (sorted(parts.glob("part-*.parquet")) if parts.is_dir() else [])
        rows = (r for f in files for r in pq.read_table(f).to_pylist())
    for row in rows:
        yield {k: (json.loads(v) if k in _JSON_COLUMNS and isinstance(v, str) and v else v) for k, v in row.items()
               if v not in (None, "")}


def done_ids(path: str | Path, fmt: str | None = None) -> list[str]:
    """Ids of the records a previous run finished, in output order (a partial last line is cut off first)."""
    path = Path(path)
    fmt = format_of(path, fmt)
    if fmt != "parquet" and path.exists():
        _trim_partial_tail(path)
    return [str(r["id"]) for r in read_records(path, fmt)]
