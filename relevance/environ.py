"""Environment variables set for the processes a block starts (vLLM's engine workers, training
stage processes), then restored: a child reads its environment once, at start."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def environment(entries: dict[str, str]) -> Iterator[None]:
    """Set `entries` in os.environ inside the block; restore (or remove) them after it.

    >>> with environment({"TAOSR1_DOCTEST_VAR": "1"}):
    ...     os.environ["TAOSR1_DOCTEST_VAR"]
    '1'
    >>> "TAOSR1_DOCTEST_VAR" in os.environ
    False
    """
    saved = {k: os.environ.get(k) for k in entries}
    os.environ.update(entries)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
