"""Speaker diarization in a child process, as the original server ran pyannote.audio.

The parent never imports torch or pyannote: it starts ``diarize_child`` with the WAV and the
local model directory, hands the ``Popen`` to the worker through ``register`` (the worker
keeps it in the per-task structures so a cancel can kill it), and polls it so that a
cancel, a timeout or a dead child each end the stage promptly with a reason. The child
writes its turns as JSON into a private temp directory under ``workdir``, which is removed
however the stage ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_server.pipeline.engines.base import EngineError, TaskCancelled

TURNS_SCHEMA_VERSION = 1
CHILD_MODULE = "reference_server.pipeline.diarize_child"
_POLL_INTERVAL_S = 0.1
_STDERR_TAIL_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Turn:
    """One stretch of speech by one speaker."""

    start: float
    end: float
    speaker: str


def run_diarization(
    wav: Path,
    model_dir: Path,
    workdir: Path,
    register: Callable[[subprocess.Popen[bytes]], None],
    cancelled: threading.Event,
    timeout_s: float,
) -> list[Turn]:
    """Diarize ``wav`` with the pipeline in ``model_dir`` in a child process.

    Raises ``TaskCancelled`` when ``cancelled`` is set (the child is killed first) and
    ``EngineError`` when the child fails, is killed or outlives ``timeout_s``.
    """
    if not wav.is_file():
        raise EngineError(f"diarization input not found: {wav}")
    if not model_dir.is_dir():
        raise EngineError(
            f"diarization model directory not found: {model_dir}; "
            "pass --diarization-model DIR (a local pipeline, never downloaded)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="diarize-", dir=workdir))
    try:
        out_path = tmp / "turns.json"
        with (tmp / "child.stderr").open("w+b") as stderr:
            # stderr goes to a file, not a pipe: a chatty child can never block on a full
            # pipe while the parent waits for it.
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    CHILD_MODULE,
                    "--wav",
                    str(wav),
                    "--model-dir",
                    str(model_dir),
                    "--out",
                    str(out_path),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=_child_env(),
                start_new_session=True,  # a terminal's Ctrl-C is the server's to handle
            )
            try:
                register(proc)
                returncode = _wait(proc, cancelled, timeout_s)
            finally:
                _kill(proc)
            if returncode != 0:
                if cancelled.is_set():
                    # A cancel may kill the child itself (the worker does) before this
                    # thread sees the flag: the task was cancelled, it did not fail.
                    raise TaskCancelled()
                raise EngineError(_failure_reason(returncode, stderr))
        return _read_turns(out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Belt and braces: the child loads local files only; any hub access is a bug to surface.
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    # pyannote's telemetry is on by default and sends traces over the network.
    env["PYANNOTE_METRICS_ENABLED"] = "false"
    return env


def _wait(proc: subprocess.Popen[bytes], cancelled: threading.Event, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        if cancelled.is_set():
            _kill(proc)
            raise TaskCancelled()
        try:
            return proc.wait(timeout=_POLL_INTERVAL_S)
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            _kill(proc)
            raise EngineError(f"diarization did not finish within {timeout_s:g} s; killed it")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    # Reap it, so no zombie outlives the task and its PID is really gone.
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _failure_reason(returncode: int, stderr: Any) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"diarization child process was killed by {name}"
    stderr.seek(0, os.SEEK_END)
    size = stderr.tell()
    stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
    lines = [ln.strip() for ln in stderr.read().decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln]
    detail = lines[-1] if lines else "no error output"
    return f"diarization child process failed (exit {returncode}): {detail}"


def _read_turns(path: Path) -> list[Turn]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema_version") != TURNS_SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {data.get('schema_version')!r}")
        return [Turn(float(t["start"]), float(t["end"]), str(t["speaker"])) for t in data["turns"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"diarization child wrote no usable result: {exc}") from exc


def assign_speakers(segments: Iterable[MutableMapping[str, Any]], turns: Iterable[Turn]) -> None:
    """Set each segment's ``speaker`` to the turn speaker it overlaps most (in place).

    A segment that overlaps no turn keeps its speaker. Overlap is summed per speaker, so a
    segment spanning two turns by the same speaker counts both.
    """
    ordered = sorted(turns, key=lambda t: t.start)
    for seg in segments:
        start, end = float(seg["start"]), float(seg["end"])
        overlap_by_speaker: dict[str, float] = {}
        for turn in ordered:
            if turn.start > end or (turn.start == end and end > start):
                break
            overlap = min(end, turn.end) - max(start, turn.start)
            if end == start and turn.start <= start < turn.end:
                overlap = 1.0  # an instant inside a turn belongs to it
            if overlap > 0:
                overlap_by_speaker[turn.speaker] = (
                    overlap_by_speaker.get(turn.speaker, 0.0) + overlap
                )
        if overlap_by_speaker:
            # max() keeps the first of equal overlaps: the speaker who spoke first wins ties.
            seg["speaker"] = max(overlap_by_speaker, key=lambda s: overlap_by_speaker[s])
