"""Write a folder atomically: fill a hidden temp folder beside it, then rename it into place.

A reader sees either the old folder or the complete new one, never a half-written one; a
crash leaves only a `.name-*` temp folder behind. Used by every stage that saves a checkpoint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_folder(out_dir: Path | str) -> Iterator[Path]:
    """Yield a temp folder; on success it replaces `out_dir` (readable by all), on error it is removed."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; the service may run as another user
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
