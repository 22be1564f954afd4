"""Keep the training heap flat: glibc malloc tunables for tensor-sized blocks, and the live RSS.

glibc serves a block of at least `M_MMAP_THRESHOLD` bytes with its own mmap and returns it to
the OS on free. The threshold starts at 128 KiB but is *dynamic*: each freed mmapped block
raises it to that block's size (up to 32 MiB). A training loop frees activations of every
size each step, so within a few steps nearly every activation comes from the arena heap, whose
free space fragments across shapes and is rarely given back — the resident set creeps up by
gigabytes while the live tensors do not (measured in the default recipe's SFT stage: 9.7 GB of
an 11.4 GB resident set was the brk heap, after every step's activations had been freed).
Setting the threshold (and the trim threshold) explicitly turns the dynamic adjustment off:
large tensors go back to the OS when freed; `release_free_memory` (glibc `malloc_trim`) returns
the free pages inside the heap after each step.

It costs speed: every large tensor is then a fresh mmap whose pages fault in again. Measured
(`bench/train.py --stages label_sft --steps 10`, idle 2-core machine, 2026-12-01): peak RSS
6.13 → 3.96 GB (1.88 GB at the end instead of 6.12), but 1.46 → 0.83 examples/s. So it is
opt-in: `TAOSR1_MALLOC_TUNE=1` for a machine where memory, not time, is what runs out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3

#: blocks of this size or more get their own mmap (fixed: no dynamic raise)
MMAP_THRESHOLD = 256 * 1024
#: free heap top above this is returned to the OS
TRIM_THRESHOLD = 16 * 1024 * 1024


def pin_malloc_thresholds(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Fix glibc's mmap and trim thresholds for this process; False where libc is not glibc.

    Only with `TAOSR1_MALLOC_TUNE=1` (see the module doc for its cost).
    """
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))


def _libc():
    """glibc when the tuning is on (`TAOSR1_MALLOC_TUNE=1`, Linux), else None."""
    if os.environ.get("TAOSR1_MALLOC_TUNE", "0") != "1" or not sys.platform.startswith("linux"):
        return None
    return _load_libc()


@functools.cache
def _load_libc():
    """Loaded once: `find_library` runs ldconfig, too slow to repeat every training step."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_free_memory() -> None:
    """Give the heap's free pages back to the OS (glibc `malloc_trim(0)`; a no-op elsewhere)."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)


def rss_now_gb() -> float:
    """This process's resident set size now, in GB (0.0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e9
