"""Durable state of batch jobs: one SQLite database (stdlib sqlite3, WAL, synchronous=FULL) in TAOSR1_JOBS_DIR.

`jobs` holds one row per job (status, counts, timestamps, the model it is pinned to);
`results` holds one row per finished input row, keyed by (job, line). A job step's results
and its counters are written in one transaction (`save_step`): after a crash a step is either
all there or not at all, and the primary key makes a replayed step a no-op — so a resumed job
ends with exactly one result per input row. Results are read back by line, i.e. input order.
Uploaded inputs live beside the database (`inputs/<id>.<format>`).

Knows nothing about HTTP, models or scoring. One connection, used under a lock (calls come from
the event loop for reads and a worker thread for writes).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

TERMINAL = ("succeeded", "failed", "cancelled")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, status TEXT NOT NULL, format TEXT NOT NULL, total INTEGER NOT NULL,
  done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, beta REAL NOT NULL,
  created REAL NOT NULL, started REAL, finished REAL, model TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS results (
  job TEXT NOT NULL, line INTEGER NOT NULL, ok INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (job, line)
) WITHOUT ROWID;
"""
_FIELDS = ("id", "status", "format", "total", "done", "failed", "beta", "created", "started", "finished", "model", "error")


class JobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.db_path = self.root / "jobs.db"
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def exists(self) -> bool:
        return self.db_path.is_file()

    def open(self) -> JobStore:
        """Create the folder and the database when missing (idempotent)."""
        with self._lock:
            if self._conn is None:
                (self.root / "inputs").mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_SCHEMA)
                self._conn = conn
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _q(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            assert self._conn is not None, "JobStore.open() first"
            return self._conn.execute(sql, args).fetchall()

    def input_path(self, job_id: str, fmt: str) -> Path:
        return self.root / "inputs" / f"{job_id}.{fmt}"

    # -- jobs -------------------------------------------------------------------------------
    def create(self, job_id: str, fmt: str, total: int, beta: float) -> dict:
        self._q("INSERT INTO jobs (id, status, format, total, beta, created) VALUES (?, 'queued', ?, ?, ?, ?)",
                (job_id, fmt, total, beta, time.time()))
        return self.get(job_id) or {}

    def get(self, job_id: str) -> dict | None:
        rows = self._q(f"SELECT {', '.join(_FIELDS)} FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def list(self, limit: int = 100) -> list[dict]:
        rows = self._q(f"SELECT {', '.join(_FIELDS)} FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    def unfinished(self) -> list[dict]:
        """Jobs still to run (queued or running), oldest first."""
        rows = self._q(f"SELECT {', '.join(_FIELDS)} FROM jobs WHERE status IN ('queued', 'running') ORDER BY created")
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        return dict(self._q("SELECT status, count(*) FROM jobs GROUP BY status"))

    def start(self, job_id: str, model: dict) -> None:
        """Mark running and pin the model (kept when the job is resumed: the first start's wins)."""
        self._q("UPDATE jobs SET status = 'running', started = coalesce(started, ?), model = coalesce(model, ?) "
                "WHERE id = ? AND status IN ('queued', 'running')", (time.time(), json.dumps(model), job_id))

    def finish(self, job_id: str, status: str, error: str | None = None) -> bool:
        """Move an unfinished job to a terminal status; False when it already was in one."""
        assert status in TERMINAL, status
        with self._lock:
            assert self._conn is not None
            cur = self._conn.execute(
                "UPDATE jobs SET status = ?, finished = ?, error = ? WHERE id = ? AND status IN ('queued', 'running')",
                (status, time.time(), error, job_id),
            )
            return cur.rowcount == 1

    # -- results ----------------------------------------------------------------------------
    def done_lines(self, job_id: str) -> set[int]:
        return {line for (line,) in self._q("SELECT line FROM results WHERE job = ?", (job_id,))}

    def save_step(self, job_id: str, records: list[dict]) -> tuple[int, int]:
        """Store one step's result records (each with its `line`) and the job's counters, in one transaction.

        Returns (ok, failed) rows newly stored (a replayed line is ignored)."""
        ok = [(job_id, r["line"], 0 if "error" in r else 1, json.dumps(r, ensure_ascii=False)) for r in records]
        with self._lock:
            assert self._conn is not None
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                new_ok = new_failed = 0
                for row in ok:
                    conn.execute("INSERT OR IGNORE INTO results (job, line, ok, body) VALUES (?, ?, ?, ?)", row)
                    if conn.total_changes != before:
                        new_ok, new_failed = new_ok + row[2], new_failed + (1 - row[2])
                        before = conn.total_changes
                conn.execute("UPDATE jobs SET done = done + ?, failed = failed + ? WHERE id = ?",
                             (new_ok + new_failed, new_failed, job_id))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return new_ok, new_failed

    def results(self, job_id: str, page: int = 1000) -> Iterator[list[str]]:
        """Pages of result lines (JSON text) in input order."""
        after = 0
        while True:
            rows = self._q("SELECT line, body FROM results WHERE job = ? AND line > ? ORDER BY line LIMIT ?",
                           (job_id, after, page))
            if not rows:
                return
            after = rows[-1][0]
            yield [body for _, body in rows]


def _job(row: tuple) -> dict:
    job = dict(zip(_FIELDS, row, strict=True))
    job["model"] = json.loads(job["model"]) if job["model"] else None
    if job["error"] is None:
        job.pop("error")
    return job
