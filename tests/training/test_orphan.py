"""A stage's child process ends with the pipeline that started it (training.orphan), even when the
pipeline is killed with SIGKILL and has no chance to stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PARENT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    from training.orphan import die_with_parent

    def child(parent_pid, guard):
        if guard:
            die_with_parent(parent_pid)
        time.sleep(120)

    if __name__ == "__main__":
        p = mp.get_context("spawn").Process(target=child, args=(os.getpid(), sys.argv[1] == "guard"))
        p.start()
        print(p.pid, flush=True)
        time.sleep(120)
    """
)


def _gone(pid: int) -> bool:
    """True when `pid` has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}


def _orphan_after_parent_killed(tmp_path: Path, mode: str, wait_s: float) -> bool:
    """Start a parent that spawns a sleeping child, SIGKILL the parent; whether the child is gone after `wait_s`."""
    script = tmp_path / "parent.py"  # a file, so the spawned child can import its target from it
    script.write_text(PARENT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, str(script), mode], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    time.sleep(3.0)  # the child is past its start-up and asleep
    assert not _gone(child_pid), "the child must be running before its parent is killed"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not _gone(child_pid):
        time.sleep(0.1)
    gone = _gone(child_pid)
    if not gone:
        os.kill(child_pid, signal.SIGKILL)
    return gone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_guarded_child_ends_when_its_parent_is_killed(tmp_path):
    assert _orphan_after_parent_killed(tmp_path, "guard", wait_s=15.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_without_the_guard_the_child_outlives_its_parent(tmp_path):
    """The control: what the pipeline did before the guard (a stray stage kept training)."""
    assert not _orphan_after_parent_killed(tmp_path, "none", wait_s=2.0)


def test_a_child_whose_parent_is_already_gone_exits():
    """The race: the parent ended before the child asked; the child must not run on."""
    code = "import os, sys; from training.orphan import die_with_parent; die_with_parent(os.getppid() + 10**6); print('ran on')"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    if sys.platform.startswith("linux"):
        assert done.returncode == 1 and "ran on" not in done.stdout
    else:
        assert done.returncode == 0


def test_the_guard_arms_for_the_real_parent():
    """In a process whose parent is alive the request is accepted and the process carries on."""
    code = "import os; from training.orphan import die_with_parent; print(die_with_parent(os.getppid()))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == str(sys.platform.startswith("linux"))
