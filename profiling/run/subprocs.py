"""Child-process chores shared by everything memdiag starts (the DB, servers, tests).

Each child announces itself with its first stdout line (a URI or a URL) and is stopped
with SIGTERM, then SIGKILL if it has not exited in time. `pid_alive` is the one answer
to "does this process still run" (a zombie does not).
"""

from __future__ import annotations

import signal
import subprocess
import threading

from loadtests.procgroup import stat_fields


def first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The child's first stdout line, or "" if none came within `timeout_s`."""
    result: list[str] = []

    def read() -> None:
        if proc.stdout is not None:
            result.append(proc.stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    return result[0] if result else ""


def terminate(proc: subprocess.Popen[str], timeout_s: float) -> int:
    """SIGTERM, SIGKILL after `timeout_s`; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return wait_or_kill(proc, timeout_s)


def wait_or_kill(proc: subprocess.Popen[str], timeout_s: float) -> int:
    """Wait `timeout_s` for a process already told to stop, then SIGKILL; its exit code."""
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs. A zombie does not: it has exited and only waits to be
    reaped (a killed child of ours stays in /proc, and answers `kill(pid, 0)`, until its
    parent waits for it). Nothing is reaped here: a child started with subprocess.Popen
    is reaped by its Popen (`poll()`, `wait()`), which would otherwise lose its exit code."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")
