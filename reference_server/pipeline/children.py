"""Child processes of a task (diarization, as the original ran pyannote): started,
registered in the task's per-task structure so cancel can end them, and never waited
on forever."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Sequence

from reference_server.pipeline.engines.base import EngineError, TaskCancelled


def run_child(
    argv: Sequence[str],
    *,
    register: Callable[[subprocess.Popen[bytes]], None],
    cancelled: threading.Event,
    timeout_s: float,
    what: str,
) -> bytes:
    """Run argv; return its stdout. Cancel kills it (TaskCancelled); failure -> EngineError."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    register(proc)
    out: list[bytes] = []
    err: list[bytes] = []
    # Read both pipes on threads so a chatty child never blocks on a full pipe.
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True),  # type: ignore[union-attr]
    ]
    for r in readers:
        r.start()
    waited = 0.0
    try:
        while proc.poll() is None:
            if cancelled.wait(0.05):
                raise TaskCancelled()
            waited += 0.05
            if waited > timeout_s:
                raise EngineError(f"{what} took longer than {timeout_s:.0f} s and was stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for r in readers:
            r.join(5)
    if proc.returncode != 0:
        if cancelled.is_set():
            raise TaskCancelled()
        tail = b"".join(err).decode(errors="replace").strip().splitlines()[-1:] or [""]
        how = (
            f"killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else (f"exited with {proc.returncode}")
        )
        raise EngineError(f"{what} child process {how}: {tail[0]}".rstrip(": "))
    return b"".join(out)
