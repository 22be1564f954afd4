"""A stage's child process ends when the pipeline that started it ends.

The pipeline runs each stage in a spawned child (training.pipeline.run_stage_isolated). Without a
guard, stopping the pipeline (`kill`, a scheduler's SIGKILL, a closed terminal) left the child
training on, holding the cores and writing into the run dir. On Linux the child asks the kernel
for SIGTERM when its parent exits (prctl PR_SET_PDEATHSIG), then checks that the parent it was
started by is still there, since the parent may have ended before the request was made.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> bool:
    """Make this process get SIGTERM when `parent_pid` (its parent) exits; exit now if it already has.

    Returns whether the kernel took the request (False off Linux, where nothing changes).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
    if os.getppid() != parent_pid:  # the parent ended before the request: nobody waits for this stage
        os._exit(1)
    return armed
