"""A child started after a cancel, but before it was registered, still ends.

The cancel route sets the task's flag and kills the children registered so far; a child
spawned just before (ffmpeg between Popen and its registration) was missed, and the
worker then waited on it forever (seen in a clean-clone CI run: a stopped ffmpeg, the
task never ended). Registering checks the flag. Real child processes.
"""

from __future__ import annotations

import signal
import subprocess

from reference_server.live import LiveRegistry


def test_a_child_registered_after_the_cancel_is_killed() -> None:
    live = LiveRegistry()
    live.cancel_flag("t1").set()  # the cancel came first
    proc = subprocess.Popen(["sleep", "60"])
    try:
        live.register_process("t1", proc)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_child_of_a_running_task_is_left_alone() -> None:
    live = LiveRegistry()
    live.cancel_flag("t2")  # a flag exists, not set
    proc = subprocess.Popen(["sleep", "60"])
    try:
        live.register_process("t2", proc)
        assert proc.poll() is None
        assert live.processes("t2") == [proc]
    finally:
        proc.kill()
        proc.wait()
