"""Diarization: a small random pyannote pipeline built locally, run in the child process.

The child tests are marked `engines` (they need torch and pyannote.audio); speaker
assignment is pure and runs in the core suite too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from reference_server.pipeline.diarization import Turn, assign_speakers, run_diarization
from reference_server.pipeline.engines.base import EngineError, TaskCancelled

Child = subprocess.Popen[bytes]


class Run:
    """run_diarization on a thread, so a test can act on the child while it runs."""

    def __init__(self, wav: Path, model_dir: Path, workdir: Path, timeout_s: float = 240):
        self.children: list[Child] = []
        self.cancelled = threading.Event()
        self.turns: list[Turn] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(wav, model_dir, workdir, timeout_s), daemon=True
        )
        self._thread.start()

    def _run(self, wav: Path, model_dir: Path, workdir: Path, timeout_s: float) -> None:
        try:
            self.turns = run_diarization(
                wav, model_dir, workdir, self.children.append, self.cancelled, timeout_s
            )
        except BaseException as exc:
            self.error = exc

    def child(self) -> Child:
        _wait_for(lambda: bool(self.children), "the child to be registered")
        return self.children[0]

    def join(self, timeout_s: float = 60) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "run_diarization did not return"


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _loaded_torch(pid: int) -> bool:
    """The child is past start-up: torch's native library is mapped into it."""
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _gone(pid: int) -> bool:
    try:
        # An orphan is reaped by init, possibly a moment after it exits: a zombie is gone.
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.engines
def test_child_diarizes_with_the_local_random_pipeline(
    random_pipeline: Path, speech_16k: tuple[Path, float], tmp_path: Path
) -> None:
    wav, duration_s = speech_16k
    run = Run(wav, random_pipeline, tmp_path)
    run.join(timeout_s=240)
    assert run.error is None, repr(run.error)
    assert run.turns, "the random pipeline found no speech turn at all"
    for turn in run.turns:
        assert 0.0 <= turn.start < turn.end <= duration_s + 0.1
        assert re.fullmatch(r"SPEAKER_\d+", turn.speaker)
    assert run.child().returncode == 0
    assert list(tmp_path.iterdir()) == [], "temp files left behind"
    segments: list[dict[str, Any]] = [{"start": 0.5, "end": 1.5, "speaker": None}]
    assign_speakers(segments, run.turns)
    assert segments[0]["speaker"] in {t.speaker for t in run.turns}


@pytest.mark.engines
def test_cancel_kills_the_child_and_removes_its_temp_files(
    random_pipeline: Path, speech_16k: tuple[Path, float], tmp_path: Path
) -> None:
    run = Run(speech_16k[0], random_pipeline, tmp_path)
    child = run.child()
    assert [p.name.startswith("diarize-") for p in tmp_path.iterdir()] == [True]
    _wait_for(lambda: _loaded_torch(child.pid) or child.poll() is not None, "torch to load")
    assert child.poll() is None, "the child finished before the test could cancel it"
    run.cancelled.set()
    run.join()
    assert isinstance(run.error, TaskCancelled)
    assert _gone(child.pid)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.engines
def test_killed_child_fails_with_a_reason(
    random_pipeline: Path, speech_16k: tuple[Path, float], tmp_path: Path
) -> None:
    run = Run(speech_16k[0], random_pipeline, tmp_path)
    child = run.child()
    child.kill()  # as the OOM killer would
    run.join()
    assert isinstance(run.error, EngineError)
    assert "diarization child process was killed by SIGKILL" in str(run.error)
    assert _gone(child.pid)
    assert list(tmp_path.iterdir()) == []


_ORPHAN_PARENT = """
import sys, threading
from pathlib import Path
from reference_server.pipeline.diarization import run_diarization
wav, model_dir, workdir = map(Path, sys.argv[1:4])
def show(proc):
    print(proc.pid, flush=True)
run_diarization(wav, model_dir, workdir, show, threading.Event(), 600)
"""


@pytest.mark.engines
def test_child_ends_when_the_server_is_killed_outright(
    random_pipeline: Path, speech_16k: tuple[Path, float], tmp_path: Path
) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_PARENT, str(speech_16k[0]), str(random_pipeline),
         str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        child_pid = int(server.stdout.readline())
        assert psutil.pid_exists(child_pid)
    finally:
        server.kill()  # SIGKILL: no finally, no cleanup in the parent
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    _wait_for(lambda: _gone(child_pid), "the orphaned child to exit", timeout_s=15)


@pytest.mark.engines
def test_broken_model_directory_fails_with_the_childs_reason(
    speech_16k: tuple[Path, float], tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    run = Run(speech_16k[0], model_dir, workdir)
    run.join(timeout_s=120)
    assert isinstance(run.error, EngineError)
    assert re.search(r"failed \(exit 3\): .*pipeline\.json not found", str(run.error))
    assert list(workdir.iterdir()) == []


@pytest.mark.engines  # without torch the child fails at once, before any timeout
def test_timeout_kills_the_child(speech_16k: tuple[Path, float], tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    run = Run(speech_16k[0], model_dir, workdir, timeout_s=0.3)
    child = run.child()
    run.join()
    assert isinstance(run.error, EngineError)
    assert "did not finish within 0.3 s" in str(run.error)
    assert _gone(child.pid)
    assert list(workdir.iterdir()) == []


def test_missing_model_directory_fails_before_starting_a_child(
    speech_16k: tuple[Path, float], tmp_path: Path
) -> None:
    children: list[Child] = []
    with pytest.raises(EngineError, match="--diarization-model"):
        run_diarization(
            speech_16k[0], tmp_path / "nope", tmp_path, children.append, threading.Event(), 10
        )
    assert children == []


def test_speakers_are_assigned_by_largest_overlap() -> None:
    turns = [Turn(0.0, 2.0, "A"), Turn(1.5, 4.0, "B"), Turn(4.0, 4.5, "A"), Turn(6.0, 7.0, "C")]
    segments: list[dict[str, Any]] = [
        {"start": 0.0, "end": 1.6, "speaker": None},  # A 1.6 vs B 0.1
        {"start": 1.8, "end": 4.4, "speaker": None},  # A 0.2+0.4 vs B 2.2
        {"start": 3.0, "end": 5.0, "speaker": None},  # B 1.0 vs A 0.5
        {"start": 5.0, "end": 5.5, "speaker": "kept"},  # overlaps nothing
        {"start": 6.5, "end": 6.5, "speaker": None},  # an instant inside C
        {"start": 1.0, "end": 2.5, "speaker": None},  # A 1.0 vs B 1.0: first speaker wins
    ]
    assign_speakers(segments, reversed(turns))  # order of turns must not matter
    assert [s["speaker"] for s in segments] == ["A", "B", "B", "kept", "C", "A"]
