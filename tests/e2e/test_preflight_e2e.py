"""The real `memdiag` refuses a polled size this machine cannot serve before anything starts.

The pre-flight runs after the arguments are checked and before the run folder is made
(a run writes its folder, then starts the DB): so no folder means no DB, no server and
no Locust were started, and the refusal costs the pre-flight's few seconds, by
construction. Nothing here asserts a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiling.results.folder import load_summary

MEMDIAG = [sys.executable, "-m", "profiling"]
# 20,000 segments of 12 words (20 MiB of BSON) at 50 polls/s: about a second of CPU per
# poll for db-polling, fifty cores' worth, on any machine this runs on.
IMPOSSIBLE = ["-O", "initial_segments=20000", "-O", "segments=20000", "--rate", "50"]
PHASES = ["--duration", "5", "--warmup", "1"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MEMDIAG_NO_PREFLIGHT"}
    return {**env, **extra}


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "--configs", "db-polling,lean"],
        ["measure", "--mode", "db-polling"],
        ["sweep", "--configs", "lean", "--param", "users", "--values", "10,20"],
    ],
)
def test_an_impossible_fixed_size_is_refused_before_anything_starts(
    command: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [*MEMDIAG, *command, *IMPOSSIBLE, *PHASES, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    (line,) = lines
    assert "pre-flight" in line and "could not keep up" in line, line
    # The remedy: a rate that fits (no size does at 50/s), and the way around it.
    assert "use --rate " in line and "--no-preflight" in line
    assert not out.exists()  # no run folder: no DB, server or load was started
    assert proc.stdout == ""


def test_ablate_refuses_the_storms_impossible_size(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [*MEMDIAG, "ablate", "--switches", "poll_source", *IMPOSSIBLE, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 2, proc.stderr
    assert "pre-flight" in proc.stderr and "--rate " in proc.stderr, proc.stderr
    assert not out.exists()


def test_a_bad_no_preflight_variable_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [*MEMDIAG, "measure", "--mode", "lean", *PHASES, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(MEMDIAG_NO_PREFLIGHT="maybe"),
    )
    assert proc.returncode == 2, proc.stderr
    assert "MEMDIAG_NO_PREFLIGHT='maybe'" in proc.stderr
    assert not out.exists()


@pytest.mark.slow
def test_the_fitted_size_is_the_size_the_run_polled_and_the_summary_says_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    argv = ["measure", "--mode", "lean", "--rate", "4", "--duration", "3", "--warmup", "1"]
    argv += ["--cooldown", "0", "-O", "storm_tasks=2", "--no-html", "-o", str(out)]
    proc = subprocess.run(
        [*MEMDIAG, *argv],
        capture_output=True,
        text=True,
        timeout=240,
        env=_env(),
    )
    assert proc.returncode in (0, 3), proc.stderr  # 3 only if the shared machine fell short
    summary = load_summary(out)
    (run,) = summary.runs
    assert run.preflight is not None and run.preflight.fitted
    assert run.preflight.text in proc.stderr  # the line printed is the line recorded
    assert run.preflight.rate_per_s == 4.0
    # The size it chose is the size the tasks were grown to (the default 1,000 is not
    # written into the options; a smaller one is).
    assert run.scenario.params.get("initial_segments", 1000) == run.preflight.segments
    assert run.work is not None and run.work.target_segments == run.preflight.segments
    assert f"| pre-flight | {run.preflight.text} |" in (out / "report.md").read_text()
