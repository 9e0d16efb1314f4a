"""Smoke test of the lean-vs-trivial poll-rate benchmark: it runs and prints a ratio.

A benchmark, not a timed test: nothing here looks at the figures beyond their presence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("client", ["auto", "python"])
def test_lean_poll_rate_runs_and_prints_a_ratio(mongo_uri: str, client: str) -> None:
    argv = [sys.executable, "-m", "profiling.benchmarks.lean_poll_rate", "--rounds", "1"]
    argv += ["--duration-s", "1", "--warmup-s", "0.5", "--connections", "4"]
    argv += ["--segments", "300", "--initial-segments", "200", "--segments-per-second", "2"]
    argv += ["--client", client, "--mongo-uri", mongo_uri]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    row = json.loads(lines[0])
    assert row["ratio"] > 0 and row["lean_rps_median"] > 0 and row["trivial_rps_median"] > 0
    assert row["polls_served_by_server"] >= row["polls_counted_by_client"] > 0
    assert any(line.startswith("ratio lean/trivial: ") for line in lines)


def test_lean_poll_rate_rejects_bad_input() -> None:
    argv = [sys.executable, "-m", "profiling.benchmarks.lean_poll_rate", "--rounds", "0"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
