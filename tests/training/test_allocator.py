"""The stage processes' allocator: jemalloc chosen before a process starts, glibc on request."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest

from relevance.environ import environment
from training import allocator


def _report(queue) -> None:
    queue.put((allocator.in_use(), os.environ.get("MALLOC_CONF")))


def _child_allocator(env: dict[str, str]) -> tuple[str, str | None]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_report, args=(queue,))
    with environment(env):
        child.start()
    child.join(timeout=120)
    return queue.get(timeout=5)


def test_a_spawned_stage_process_runs_on_jemalloc_when_installed() -> None:
    if allocator.find_jemalloc() is None:
        pytest.skip("libjemalloc2 is not installed (make test installs it through scripts/ensure_package.sh)")
    before = dict(os.environ)
    used, conf = _child_allocator(allocator.stage_env("auto"))
    assert used == "jemalloc" and conf == allocator.JEMALLOC_CONF
    assert dict(os.environ) == before  # the parent's own environment is restored
    assert allocator.in_use() == "glibc"  # and the parent itself is not switched
    assert _child_allocator(allocator.stage_env("glibc"))[0] == "glibc"


def test_choice_is_validated_and_a_missing_jemalloc_is_named(monkeypatch) -> None:
    with pytest.raises(ValueError, match="TAOSR1_ALLOCATOR='tcmalloc'.*auto, jemalloc, glibc"):
        allocator.choice("tcmalloc")
    monkeypatch.setenv("TAOSR1_ALLOCATOR", "glibc")
    assert allocator.stage_env() == {}
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: None)
    assert allocator.stage_env("auto") == {}  # auto falls back to glibc
    with pytest.raises(RuntimeError, match="apt-get install libjemalloc2"):
        allocator.stage_env("jemalloc")
