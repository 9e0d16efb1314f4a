"""A process group's live members, from /proc, and the one way to end a group: how a
stopped load (and a stopped server of the user's own, profiling.run.command_server) is
known to have ended whole.

A zombie is not a member: it has exited and only waits to be reaped (a child of a killed
parent waits for init, which in a container may never reap it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

KILL_WAIT_S = 5.0  # after SIGKILL, how long to wait for the group to be gone


def end_group(
    proc: subprocess.Popen[Any], grace_s: float, kill_wait_s: float = KILL_WAIT_S
) -> int | None:
    """End the process group `proc` leads (started with `start_new_session=True`):
    SIGTERM to the group, then wait up to `grace_s` for `proc` to exit and every member
    of the group to end; SIGKILL to whatever is left, waited for up to `kill_wait_s`.

    The whole group, not only `proc`: a launcher's forked workers can outlive it (Locust's
    `--processes` workers, two of which once outlived a stopped load; a shell's server;
    gunicorn's workers), and a member that ignores SIGTERM must not outlive the run.
    Returns `proc`'s exit code (None if it could not be reaped in time)."""
    group = proc.pid  # start_new_session: the group's id is its leader's pid
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_wait_s)):
        try:
            os.killpg(group, sig)
        except (ProcessLookupError, PermissionError):
            break  # nothing of the group is left (not even an unreaped leader)
        deadline = time.monotonic() + wait_s
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait_s)
        while group_members(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None and not group_members(group):
            break
    return proc.poll()


def group_members(pgid: int) -> list[int]:
    """Live processes (zombies excluded) of process group `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, ...), or
    None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()
