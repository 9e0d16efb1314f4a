"""Child-process chores shared by everything memdiag starts (the DB, servers, tests).

Each child announces itself with its first stdout line (a URI or a URL) and is stopped
with SIGTERM, then SIGKILL if it has not exited in time.
"""

from __future__ import annotations

import signal
import subprocess
import threading


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
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
