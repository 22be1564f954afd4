"""Which malloc the training stage processes run on: jemalloc when it is installed, else glibc.

A training loop frees activations of every size every step. glibc's arena heap fragments
across those shapes and rarely returns memory (see training.heap: the default SFT stage held
9.7 GB of free-but-resident heap); pinning glibc's thresholds flattens the heap but costs ~40 %
of the speed. jemalloc's size classes and decay-based purging keep the heap flat without that
cost, which is why PyTorch's CPU performance guide recommends it.

An allocator can only be chosen before a process starts, so this module does not switch the
current process: `stage_env()` names the library for `LD_PRELOAD`, and the pipeline (and
`bench/train.py`) set it in the environment their spawned stage processes inherit.
`TAOSR1_ALLOCATOR` = `auto` (default: jemalloc when found), `jemalloc` (fail when missing) or
`glibc`. Install it with the system's package (`apt-get install libjemalloc2`; `make install`,
which `make serve` and `make test` run, does so through `scripts/ensure_package.sh` where apt is available).
"""

from __future__ import annotations

import ctypes.util
import os
import sys

ENV = "TAOSR1_ALLOCATOR"
CHOICES = ("auto", "jemalloc", "glibc")
#: jemalloc options: purge freed pages within a second, in a background thread
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"


def find_jemalloc() -> str | None:
    """The installed jemalloc's library name (e.g. `libjemalloc.so.2`, found by the dynamic
    loader's own search, so any architecture's lib folder), or None."""
    return ctypes.util.find_library("jemalloc")


def choice(value: str | None = None) -> str:
    """The configured allocator choice (`TAOSR1_ALLOCATOR`, default auto), validated."""
    value = (value if value is not None else os.environ.get(ENV, "auto")).strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV}={value!r}: expected one of {', '.join(CHOICES)}")
    return value


def stage_env(value: str | None = None) -> dict[str, str]:
    """Environment entries that make a newly started (Linux) process use the chosen allocator.

    Empty for glibc, off Linux, or for auto without jemalloc installed; raises for an explicit
    `jemalloc` that is not installed.
    """
    wanted = choice(value)
    if wanted == "glibc" or not sys.platform.startswith("linux"):
        return {}
    lib = find_jemalloc()
    if lib is None:
        if wanted == "jemalloc":
            raise RuntimeError(f"{ENV}=jemalloc but libjemalloc.so.2 is not installed (apt-get install libjemalloc2)")
        return {}
    existing = os.environ.get("LD_PRELOAD", "")
    preload = existing if lib in existing.split() else f"{lib} {existing}".strip()
    return {"LD_PRELOAD": preload, "MALLOC_CONF": os.environ.get("MALLOC_CONF", JEMALLOC_CONF)}


def in_use() -> str:
    """The allocator this process runs on: 'jemalloc' when it is mapped in, else 'glibc'."""
    try:
        with open("/proc/self/maps") as fh:
            return "jemalloc" if "libjemalloc" in fh.read() else "glibc"
    except OSError:
        return "glibc"
