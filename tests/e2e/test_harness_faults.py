"""Harness faults in a real `memdiag compare`: the server under test, the load generator
and the embedded DB each SIGKILLed in one run of a four-run schedule.

Each hit run must be kept as an invalid run whose reason says what died, the schedule
must go on to the next run, the untouched run must be measured, and the report must
list what happened; the command exits 3 (a run is invalid).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiling.results.folder import load_summary

MEMDIAG = [sys.executable, "-m", "profiling"]


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _locust_pid(memdiag_pid: int) -> int | None:
    for pid in _children(memdiag_pid):
        try:
            if b"locust" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


@pytest.mark.slow
def test_a_dead_server_loadgen_or_db_invalidates_only_its_run(tmp_path: Path) -> None:
    out = tmp_path / "hit"
    proc = subprocess.Popen(
        [
            *MEMDIAG,
            "compare",
            "--configs",
            "lean,memory-first,db-polling,lean",
            "--duration",
            "4",
            "--warmup",
            "1",
            "--cooldown",
            "0",
            "--rate",
            "4",
            "-O",
            "segments=200",
            "-o",
            str(out),
            "--no-html",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    folders = ["01-lean-r1", "02-memory-first-r1", "03-db-polling-r1"]
    try:
        for folder, victim in zip(folders, ("server", "loadgen", "db"), strict=True):
            run_dir = out / "runs" / folder
            deadline = time.monotonic() + 200
            while not (run_dir / "rss.csv").is_file():  # sampling: the load is running
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, f"{folder} never started sampling"
                time.sleep(0.1)
            time.sleep(1.0)
            pids = json.loads((run_dir / "processes.json").read_text())
            pid = _locust_pid(proc.pid) if victim == "loadgen" else pids[victim]
            assert pid, f"no {victim} process found for {folder}"
            os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=280)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, stdout + stderr

    summary = load_summary(out)
    runs = {r.dir.rsplit("/", 1)[-1]: r for r in summary.runs if r.dir}
    assert sorted(runs) == [*folders, "04-lean-2-r1"], "a run of the schedule is missing"
    expected = {
        "01-lean-r1": "the server exited",
        "02-memory-first-r1": "the load generator (Locust) died",
        "03-db-polling-r1": "the embedded DB died",
    }
    for folder, words in expected.items():
        run = runs[folder]
        assert not run.valid, folder
        assert any(words in r for r in run.invalid_reasons), (folder, run.invalid_reasons)
    last = runs["04-lean-2-r1"]
    assert "server" in last.memory, ("the run after the faults was not measured", last)
    assert not any("the run failed" in r for r in last.invalid_reasons), last.invalid_reasons
    md = (out / "report.md").read_text()
    for words in expected.values():
        assert words in md, f"the report does not say {words!r}"
