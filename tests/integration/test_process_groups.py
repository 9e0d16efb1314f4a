"""`end_group`, the one way a load or a user's server is stopped, on real process groups: a
member that ignores SIGTERM is killed after the grace, and a member that outlives its
leader is waited for, not abandoned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.procgroup import end_group, group_members
from profiling.run.subprocs import pid_alive

# A member of the leader's group. "ignore": SIGTERM ignored; "clean-up": on SIGTERM it
# takes a moment to clean up, writes `cleaned`, then exits 0. It writes `ready` once its
# signal disposition is set.
MEMBER = """
import signal, sys, time
from pathlib import Path

folder, mode = Path(sys.argv[1]), sys.argv[2]

def clean_up(signum, frame):
    time.sleep(1.0)
    (folder / "cleaned").write_text("")
    sys.exit(0)

signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "ignore" else clean_up)
(folder / "ready").write_text("")
while True:
    time.sleep(1)
"""

# The group's leader: starts the member, prints its pid, then either exits at once
# ("exit") or waits for it, so that SIGTERM is what ends the leader ("stay").
LEADER = """
import subprocess, sys

member = subprocess.Popen([sys.executable, sys.argv[1], sys.argv[2], sys.argv[3]])
print(member.pid, flush=True)
if sys.argv[4] == "stay":
    member.wait()
"""


def start_group(
    folder: Path, member_mode: str, leader_mode: str
) -> tuple[subprocess.Popen[str], int]:
    """The leader of a new group and its member's pid, once the member is ready."""
    member_script = folder / "member.py"
    member_script.write_text(MEMBER)
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER, str(member_script), str(folder), member_mode, leader_mode],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert leader.stdout is not None
    member_pid = int(leader.stdout.readline())
    leader.stdout.close()
    deadline = time.monotonic() + 60  # a guard against hanging, not a measured bound
    while not (folder / "ready").exists():
        assert time.monotonic() < deadline, "the member never became ready"
        time.sleep(0.02)
    return leader, member_pid


def kill_if_alive(pid: int) -> None:
    """Nothing of a failed test left running."""
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_a_member_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    leader, member = start_group(tmp_path, "ignore", "stay")
    try:
        code = end_group(leader, grace_s=0.5, kill_wait_s=60)
        assert not pid_alive(member)  # SIGTERM could not end it: SIGKILL did
        assert group_members(leader.pid) == []
    finally:
        kill_if_alive(member)
    assert code == -signal.SIGTERM  # the leader ended in the grace, by SIGTERM
    assert leader.returncode == code  # reaped, its exit code kept


@pytest.mark.parametrize("leader_mode", ["exit", "stay"])
def test_a_member_that_outlives_its_leader_is_waited_for(tmp_path: Path, leader_mode: str) -> None:
    leader, member = start_group(tmp_path, "clean-up", leader_mode)
    if leader_mode == "exit":
        leader.wait()  # the leader is gone before the group is ended; its member runs on
        assert pid_alive(member)
    try:
        code = end_group(leader, grace_s=120)
        # end_group returned only once the member had finished its clean-up on SIGTERM:
        # it neither stopped at the leader's exit nor killed the member.
        assert (tmp_path / "cleaned").exists()
        assert not pid_alive(member)
        assert group_members(leader.pid) == []
    finally:
        kill_if_alive(member)
    assert code == (0 if leader_mode == "exit" else -signal.SIGTERM)


def test_a_group_already_gone_gives_its_leaders_exit_code(tmp_path: Path) -> None:
    leader = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    leader.wait()
    assert end_group(leader, grace_s=5) == 3
