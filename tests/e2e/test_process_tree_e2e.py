"""A server of several processes measured as one tree, on real processes and real Locust:
a command that forks a worker (the tree's PSS and each process's VmHWM in run.json and
the report), and the reference server with two processes (its /metrics read from both)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from profiling.cli import main
from profiling.results.folder import MIB, load_summary

APP = Path(__file__).parents[1] / "integration" / "load_apps" / "forking_app.py"
SHORT = ["--warmup", "1", "--duration", "3", "--cooldown", "0", "--rate", "5", "--no-html"]

pytestmark = pytest.mark.slow


def test_a_forking_command_is_measured_as_its_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tree"
    server = f"app={sys.executable} {APP} --port {{port}} --worker-mib 24"
    code = main(["compare", "--server", server, "--poll", "GET /work", "-o", str(out), *SHORT])
    assert code in (0, 3), capsys.readouterr()
    (run,) = load_summary(out).runs
    record = json.loads((out / str(run.dir) / "run.json").read_text())
    server_memory = run.memory["server"]
    main_process, worker = run.server_tree
    assert (main_process.role, worker.role) == ("main", "child")
    assert main_process.command.startswith("python")
    assert f"{APP.name} --port" in main_process.command
    assert worker.peak_rss_bytes >= 24 * MIB  # its ballast, its own high-water mark
    # The gated peak is the sum of each process's own VmHWM, taken at the same tick.
    assert server_memory.kernel_peak_bytes == sum(p.peak_rss_bytes for p in run.server_tree)
    # PSS counts the pages the two share after the fork once; summed RSS counts them twice.
    assert server_memory.pss_peak_bytes is not None
    assert 24 * MIB <= server_memory.pss_peak_bytes < server_memory.sampled_peak_bytes
    assert record["server_tree"][1]["pid"] == worker.pid
    rss_csv = (out / str(run.dir) / "rss.csv").read_text().splitlines()
    header = rss_csv[0].split(",")
    server_rows = [dict(zip(header, line.split(","), strict=True)) for line in rss_csv[1:]]
    assert all(r["pss_bytes"] for r in server_rows if r["label"] == "server")
    report = (out / "report.md").read_text()
    # One row per role, summed up over the runs; each process, pid included, in the JSON.
    assert "## Processes" in report and "| app | child | 1 | 1 |" in report
    assert "the figure the tables and the gate use" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["configurations"]["app"]["server_pss_peak_bytes"] > 0


def test_two_reference_server_processes_count_every_poll(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "two"
    argv = ["compare", "--configs", "lean@processes=2", "--repeat", "1", "-o", str(out)]
    load = ["-O", "segments=300", "-O", "initial_segments=0", "--no-preflight"]
    code = main([*argv, *load, "--warmup", "2", "--duration", "6", "--cooldown", "1",
                 "--rate", "5", "--no-html"])  # fmt: skip
    assert code in (0, 3), capsys.readouterr()
    (run,) = load_summary(out).runs
    assert len(run.server_tree) == 2
    assert run.db is not None and run.work is not None and run.status is not None
    # Both processes' counters: the polls the server counted are the polls the load
    # served in the same steady phase, not the half of them one process saw; they differ
    # only by the polls in flight at the phase's two edges, as the load counts them.
    edge = 2 * run.scenario.target_rate_per_s
    assert abs(run.db.status_polls - run.status.requests) <= edge, (run.db, run.status)
