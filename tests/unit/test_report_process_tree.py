"""A server of several processes: its per-process table, the tree's PSS, which peak gates,
and /metrics of every process summed into one exposition."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from profiling.numbers import bytes_text
from profiling.probes.dbevidence import db_evidence, parse_metrics
from profiling.probes.metricsum import sum_expositions
from profiling.report.render import render_html, render_json, render_markdown
from profiling.results.figures import LOOP_LAG, histogram_quantile_ms
from profiling.results.folder import MIB, RunResult, TreeProcess, load_runs, run_json
from profiling.results.record import run_from_record
from profiling.results.validate import Fields
from profiling.verdict.compare import compare


def _exposition(polls: int, finds: int, lag_s: list[float], live: int) -> str:
    r = CollectorRegistry()
    Counter("memdiag_status_polls", "polls", registry=r).inc(polls)
    commands = Counter("memdiag_db_commands", "cmds", ["command", "collection", "op"], registry=r)
    commands.labels("find", "tasks", 'st"at\\us').inc(finds)
    Gauge("memdiag_live_entries", "live", ["structure"], registry=r).labels("live").set(live)
    lag = Histogram(LOOP_LAG, "lag", buckets=(0.001, 0.01, 0.1), registry=r)
    for value in lag_s:
        lag.observe(value)
    return generate_latest(r).decode()


def test_every_sample_is_summed_and_created_stamps_dropped() -> None:
    one = _exposition(polls=30, finds=3, lag_s=[0.0005, 0.05], live=2)
    two = _exposition(polls=12, finds=5, lag_s=[0.005], live=1)
    summed = sum_expositions([one, two])
    scrape = parse_metrics(summed)
    assert scrape.status_polls == 42
    assert scrape.commands == {("find", "tasks", 'st"at\\us'): 8.0}
    assert "_created" not in summed and "memdiag_live_entries" in summed
    # The pooled histogram: a quantile over both processes' observations.
    empty = sum_expositions([_exposition(0, 0, [], 0)] * 2)
    assert histogram_quantile_ms(empty, summed, 0.99) is not None
    evidence = db_evidence(parse_metrics(empty), scrape)
    assert evidence.status_polls == 42 and evidence.commands_total == 8


def _tree() -> tuple[TreeProcess, ...]:
    return (
        TreeProcess(100, "main", "python app.py", 60 * MIB, 55 * MIB),
        TreeProcess(101, "child", "python app.py worker | 1", 40 * MIB, 38 * MIB),
    )


def _with_tree(run: RunResult) -> RunResult:
    server = replace(run.memory["server"], pss_peak_bytes=70 * MIB)
    return replace(run, server_tree=_tree(), memory={**run.memory, "server": server})


def test_the_record_round_trips_and_old_records_stay_the_same(fixture_runs: Path) -> None:
    run = load_runs(fixture_runs / "three-modes")[0]
    forked = _with_tree(run)
    record = json.loads(run_json(forked))
    assert record["memory"]["server"]["pss_peak_bytes"] == 70 * MIB
    back = run_from_record(Fields(record, "run.json"))
    assert back.server_tree == forked.server_tree
    assert back.memory["server"].pss_peak_bytes == 70 * MIB
    plain = json.loads(run_json(run))
    assert "server_tree" not in plain and "pss_peak_bytes" not in plain["memory"]["server"]


def test_the_report_sums_up_the_processes_and_says_which_peak_gates(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    forked = [_with_tree(r) if r.configuration == "lean" else r for r in runs]
    lean = [r for r in forked if r.configuration == "lean" and r.profile == "none"]
    # The last measured run forked a second worker, of another command, that peaked higher.
    extra = TreeProcess(102, "child", "ffmpeg -i in.wav", 90 * MIB, 20 * MIB)
    forked[forked.index(lean[-1])] = replace(lean[-1], server_tree=(*_tree(), extra))
    c = compare(forked)
    md = render_markdown(c)
    assert "## Processes" in md
    n = len(lean)
    # One row per configuration and role, not one per process of every run: the count a
    # run had, the own peaks' median and max over every run's processes, the command.
    rows = [line for line in md.split("## Processes")[1].split("\n## ")[0].splitlines()
            if line.startswith("| lean |")]  # fmt: skip
    median_child = statistics.median([40 * MIB] * n + [90 * MIB])
    assert rows == [
        f"| lean | main | 1 | {n} | 60.0 MiB | 60.0 MiB | 55.0 MiB | python app.py |",
        f"| lean | child | 1 to 2 | {n} | {bytes_text(median_child)} | 90.0 MiB | 38.0 MiB"
        " | python app.py worker \\| 1 (+1 other command) |",
    ]
    assert "| 101 |" not in md  # no pids in the table ...
    summary = json.loads(render_json(c))
    trees = [r.get("server_tree", []) for r in summary["runs"] if r["configuration"] == "lean"]
    pids = sorted(p["pid"] for t in trees for p in t)  # ... every process in the JSON
    assert pids.count(101) >= n and pids.count(102) == 1
    assert "the figure the tables and the gate use" in md
    assert "lean 70.0 MiB" in md
    assert "<h2>Processes</h2>" in render_html(c)
    assert summary["configurations"]["lean"]["server_pss_peak_bytes"] == 70 * MIB
    assert "server_pss_peak_bytes" not in summary["configurations"]["db-polling"]
    plain = render_markdown(compare(runs))
    assert "## Processes" not in plain
