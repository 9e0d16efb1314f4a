"""`pid_alive`, the one liveness check: a zombie (a killed child nobody reaped yet) is not
alive, and asking does not reap it, so its Popen still learns how it ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loadtests.procgroup import stat_fields
from profiling.run.subprocs import pid_alive


def _state(pid: int) -> str | None:
    fields = stat_fields(pid)
    return None if fields is None else fields[0]


def test_a_zombie_child_is_not_alive_and_keeps_its_exit_code() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert pid_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60  # a guard against hanging, not a measured bound
        while _state(child.pid) != "Z":
            assert time.monotonic() < deadline, f"no zombie: state {_state(child.pid)!r}"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # a zombie still answers signal 0 (the check that disagreed)
        assert not pid_alive(child.pid)
        assert _state(child.pid) == "Z"  # not reaped by asking
    finally:
        child.kill()
        returncode = child.wait()
    assert returncode == -signal.SIGKILL  # its Popen reaped it and saw how it ended
    assert not pid_alive(child.pid)


def test_processes_that_run_are_alive_even_when_not_ours() -> None:
    assert pid_alive(os.getpid())
    assert pid_alive(1)  # not a child of ours (init), alive all the same


def test_a_process_that_never_was_is_not_alive() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert not pid_alive(pid_max + 1)
    assert stat_fields(pid_max + 1) is None
