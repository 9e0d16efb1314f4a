"""The warm-up waits for equal work: real `memdiag measure` runs on the real embedded DB.

A run's steady phase starts only once every polled task has shown its target size, and
the run records that work; a run whose tasks never get there is invalid and says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MEMDIAG = [sys.executable, "-m", "profiling"]


def _measure(out: Path, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MEMDIAG, "measure", "--duration", "4", "--warmup", "2", "--cooldown", "1",
         "--rate", "5", "--no-html", "-o", str(out), *args],
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip


def _run(out: Path) -> dict[str, object]:
    (run_json,) = out.glob("runs/*/run.json")
    return dict(json.loads(run_json.read_text()))


# Readiness is a race against the clock (tasks pre-grown within the warm-up) and a valid
# run needs the served rate: needs the CPU to itself.
@pytest.mark.serial
def test_steady_phase_starts_when_the_pre_grown_tasks_are_ready(tmp_path: Path) -> None:
    out = tmp_path / "ready"
    proc = _measure(
        out, "--mode", "db-polling", "-O", "storm_tasks=2", "-O", "segments=240",
        "-O", "initial_segments=200", "-O", "segments_per_second=0.5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (load_json,) = out.glob("runs/*/load.json")
    load = json.loads(load_json.read_text())
    work = load["work"]
    assert work["target_segments"] == 200
    assert work["ready_at_s"] is not None
    assert work["ready_at_s"] <= work["steady_start_s"], "steady began before the tasks were ready"
    assert len(work["tasks"]) == 2
    for task in work["tasks"].values():
        assert task["segments_start"] >= 200
        assert task["polls"] > 0
    control = json.loads(next(out.glob("runs/*/control/steady.json")).read_text())
    assert control["stop_at_s"] - control["steady_start_s"] == 4
    assert _run(out)["valid"] is True


def test_tasks_that_never_reach_their_size_make_the_run_invalid(tmp_path: Path) -> None:
    """One worker thread and two tasks: the second stays queued, never pre-grown.

    Not serial: the first task holds the only worker for hours (2,000 segments at 0.1/s),
    so the second misses its size however fast or slow the machine is."""
    out = tmp_path / "never"
    proc = _measure(
        out, "--mode", "lean", "--workers", "1", "--ready-timeout", "3",
        "-O", "storm_tasks=2", "-O", "segments=2000", "-O", "initial_segments=100",
        "-O", "segments_per_second=0.1",
    )  # fmt: skip
    assert proc.returncode == 3, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    run = _run(out)
    assert run["valid"] is False
    reasons = " ".join(map(str, run["invalid_reasons"]))  # type: ignore[call-overload]
    assert "did not all reach their target size within 5s" in reasons
