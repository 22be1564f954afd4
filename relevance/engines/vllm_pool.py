"""The process-wide, reference-counted pool of vLLM backends, and the adapters loaded into each.

Engines with the same `BackendConfig` share one backend: a hot swap from one adapter version
to the next on the same base loads the new adapter into the running vLLM instead of starting
a second one. A backend shuts down when its last engine closes (or at exit); an adapter is
unloaded when its last engine closes. Knows nothing about scoring.
"""

from __future__ import annotations

import atexit
import contextlib
import threading

from relevance.engines.vllm_adapters import Adapter
from relevance.engines.vllm_backends import BackendConfig

_BACKENDS: dict[BackendConfig, list] = {}  # config -> [backend, references]
_REGISTRY_LOCK = threading.Lock()
_ADAPTER_REFS: dict[tuple[BackendConfig, str], int] = {}  # an adapter is unloaded when its last engine closes


def acquire(cfg: BackendConfig, factory):
    with _REGISTRY_LOCK:
        entry = _BACKENDS.get(cfg)
        if entry is None:
            entry = _BACKENDS[cfg] = [factory(), 0]
        entry[1] += 1
        return entry[0]


def release(cfg: BackendConfig) -> None:
    with _REGISTRY_LOCK:
        entry = _BACKENDS.get(cfg)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _BACKENDS[cfg]
        for key in [k for k in _ADAPTER_REFS if k[0] == cfg]:
            del _ADAPTER_REFS[key]
    entry[0].shutdown()


@atexit.register
def _shutdown_all() -> None:
    with _REGISTRY_LOCK:
        entries = list(_BACKENDS.values())
        _BACKENDS.clear()
    for backend, _ in entries:
        with contextlib.suppress(Exception):
            backend.shutdown()


def attach(cfg: BackendConfig, backend, adapter: Adapter) -> None:
    with _REGISTRY_LOCK:
        refs = _ADAPTER_REFS.get((cfg, adapter.name), 0)
        if refs == 0:
            backend.add_adapter(adapter)  # load now: a broken adapter fails the load, not a request
        _ADAPTER_REFS[(cfg, adapter.name)] = refs + 1


def detach(cfg: BackendConfig, backend, adapter: Adapter) -> None:
    with _REGISTRY_LOCK:
        refs = _ADAPTER_REFS.pop((cfg, adapter.name), 1) - 1
        if refs > 0:
            _ADAPTER_REFS[(cfg, adapter.name)] = refs
            return
    with contextlib.suppress(Exception):
        backend.remove_adapter(adapter)
