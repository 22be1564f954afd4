"""vLLM engine fixtures: a vLLM-compatible tiny model and adapter, one in-process vLLM and one sidecar server.

Each vLLM takes 20–50 s to start on two cores, so there is one of each per session, and the sidecar
server starts in the background while the in-process engine starts. Engines with the same options
share their vLLM (see relevance/engines/vllm_engine.py), so the adapter engines and the service's
engine reuse these two. Nothing here skips: without vllm installed these tests fail.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.tiny import VLLM_TINY_CONFIG, build_tiny_adapter, build_tiny_checkpoint

# float32 on both engines so parity can be tight; LoRA on so full and adapter checkpoints share a vLLM
VLLM_TEST_OPTIONS = dict(
    dtype="float32", max_model_len=1024, kv_cache_gb=0.25, enforce_eager=True, enable_lora=True,
    startup_timeout_s=300.0,
)


@pytest.fixture(scope="session")
def vllm_tiny_model_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    """The tiny random Llama with 32-wide heads (vLLM's CPU attention has no 16-wide kernels)."""
    return build_tiny_checkpoint(
        tmp_path_factory.mktemp("vllm-tiny-model"), smollm2_tokenizer_dir, seed=0, name="vllm-tiny", shape=VLLM_TINY_CONFIG
    )


@pytest.fixture(scope="session")
def vllm_tiny_adapter_dir(tmp_path_factory, vllm_tiny_model_dir) -> Path:
    return build_tiny_adapter(tmp_path_factory.mktemp("vllm-tiny-adapter"), vllm_tiny_model_dir, seed=1)


@pytest.fixture(scope="session")
def _vllm_sidecar_pending(vllm_tiny_model_dir, cache_dir):
    """Start the sidecar engine in the background; `vllm_sidecar` waits for it."""
    from relevance.engines.vllm_engine import VLLMEngine

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vllm-test-sidecar")
    future = pool.submit(VLLMEngine, vllm_tiny_model_dir, cache_dir=cache_dir, mode="sidecar", **VLLM_TEST_OPTIONS)
    yield future
    pool.shutdown(wait=True)
    if future.exception() is None:
        engine = future.result()
        server = engine._backend.server
        engine.close()
        assert not server.alive, "closing the last engine on a sidecar must stop the server"
        assert not _group_alive(server.process.pid), "the sidecar's engine processes outlived it"


@pytest.fixture(scope="session")
def vllm_sidecar(_vllm_sidecar_pending):
    """A VLLMEngine on a vLLM OpenAI server started here (python -m vllm.entrypoints.openai.api_server)."""
    return _vllm_sidecar_pending.result(timeout=VLLM_TEST_OPTIONS["startup_timeout_s"] + 60)


@pytest.fixture(scope="session")
def vllm_inprocess(_vllm_sidecar_pending, vllm_tiny_model_dir, cache_dir):
    """A VLLMEngine with vLLM's engine in this process (its core and worker are spawned children)."""
    import psutil

    from relevance.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(vllm_tiny_model_dir, cache_dir=cache_dir, mode="inprocess", **VLLM_TEST_OPTIONS)
    yield engine
    try:  # when only in-process tests ran, the sidecar may still be starting: its processes are not leaks
        _vllm_sidecar_pending.result(timeout=VLLM_TEST_OPTIONS["startup_timeout_s"] + 60)
    except Exception:
        pass
    sidecar_group = _sidecar_pgid(_vllm_sidecar_pending)
    kids = [
        p for p in psutil.Process().children(recursive=True)
        if _pgid(p.pid) not in (sidecar_group, None) and not _is_resource_tracker(p)
    ]
    engine.close()
    _gone, alive = psutil.wait_procs(kids, timeout=30)
    assert not alive, f"vLLM processes outlived the in-process engine: {alive}"


def _is_resource_tracker(proc) -> bool:
    """multiprocessing's resource tracker: one per process that ever spawned, it lives until this process exits."""
    try:
        return "resource_tracker" in " ".join(proc.cmdline())
    except Exception:  # gone already
        return True


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _sidecar_pgid(pending) -> int | None:
    if not pending.done() or pending.exception() is not None:
        return None
    server = pending.result()._backend.server
    return _pgid(server.process.pid) if server and server.process else None


def _group_alive(pgid: int, wait_s: float = 15.0) -> bool:
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
