"""The RSS decomposition from agent lines (pure), its agent.csv, its run.json record,
and the agent's parser of `sys._debugmallocstats()` output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from profiling.probes.agent.memagent import parse_debugmallocstats, read_status
from profiling.results.decompose import (
    RssParts,
    breakdown,
    combine,
    decompose,
    parse_parts_csv,
    parts_csv,
)
from profiling.results.folder import load_run, run_json
from profiling.results.validate import SchemaError

MIB = 1 << 20


def line(
    t: float, rss_mib: int, *, pid: int = 1, used_mib: int = 40, **extra: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "t": t,
        "pid": pid,
        "rss": rss_mib * MIB,
        "file": 8 * MIB,
        "shmem": 1 * MIB,
        "malloc": {"in_use": 20 * MIB, "free": 5 * MIB, "mmapped": 10 * MIB},
        "pymalloc": {"used": used_mib * MIB, "arena_bytes": (used_mib + 6) * MIB},
        "threads": 3,
        "gc": {"collections": [int(t), 0, 0], "seconds": [t / 100, 0.0, 0.0]},
        "agent_cpu_s": t / 1000,
        "allocator": "glibc",
    }
    record.update(extra)
    return record


def test_decompose_splits_rss_into_parts() -> None:
    parts = decompose(line(0, 100))
    assert parts == RssParts(100 * MIB, 40 * MIB, 6 * MIB, 20 * MIB, 5 * MIB, 10 * MIB, 9 * MIB)
    assert parts.accounted_bytes == 90 * MIB
    assert parts.unaccounted_bytes == 10 * MIB and parts.unaccounted_pct == pytest.approx(10.0)
    # Pages malloc counts but never touched: the rest goes negative.
    assert decompose(line(0, 80)).unaccounted_pct == pytest.approx(-12.5)  # type: ignore[union-attr]


def test_decompose_without_pymalloc() -> None:
    assert decompose(line(0, 100, pymalloc=None)) is None  # not known on this tick
    carried = decompose(line(0, 100, pymalloc=None), {"used": MIB, "arena_bytes": 2 * MIB})
    assert carried is not None and carried.pymalloc_free_bytes == MIB
    off = decompose(line(0, 100, pymalloc=None, pythonmalloc="malloc"))
    assert off is not None and off.pymalloc_used_bytes == off.pymalloc_free_bytes == 0
    assert decompose({"t": 0, "rss": 0}) is None


def test_combine_sums_processes_at_the_main_ticks() -> None:
    main = [line(t, 100) for t in (0.0, 0.5, 1.0, 1.5)]
    other = [line(t + 0.1, 50, pid=2) for t in (0.0, 0.5)]  # exits after 0.6
    points = combine({1: main, 2: other}, main_pid=1, interval_s=0.5)
    # A line up to half an interval ahead or 1.5 behind counts; an exited process adds none.
    assert [p.rss_bytes // MIB for _, p, _ in points] == [150, 150, 150, 100]
    assert points[1][2] == 6  # threads of both


def test_breakdown_at_the_steady_peak() -> None:
    rss = [100, 120, 180, 140, 130, 400]  # the last is after the steady phase
    lines = [line(10.0 + i, r, used_mib=r // 2) for i, r in enumerate(rss)]
    found, points = breakdown({1: lines}, 1, 1.0, (11.0, 14.0), clock_epoch_s=10.0)
    assert found is not None
    assert len(points) == 6 and points[2].t_s == 2.0
    assert found.at_peak.rss_bytes == 180 * MIB and found.peak_t_s == 2.0
    assert found.samples == 4
    assert found.median.rss_bytes == 135 * MIB  # of 120, 180, 140, 130
    assert found.median.pymalloc_used_bytes == int(67.5 * MIB)  # median of 60, 90, 70, 65
    assert found.gc_collections == 3 and found.gc_seconds == pytest.approx(0.03)
    assert found.agent_cpu_percent == pytest.approx(0.1)  # 3 ms over 3 s
    assert found.allocator == "glibc" and found.processes == 1 and found.threads_max == 3
    # At 120 MiB: 60 + 6 + 20 + 5 + 10 + 9 = 110, 8.3 % unaccounted; at 180: 140, 22.2 %.
    assert found.worst_unaccounted_pct == pytest.approx(22.22)
    assert found.flagged


def test_breakdown_without_steady_ticks() -> None:
    found, points = breakdown({1: [line(1.0, 100)]}, 1, 0.5, (5.0, 6.0), clock_epoch_s=0.0)
    assert found is None and len(points) == 1


def test_parts_csv_round_trip_and_errors() -> None:
    _, points = breakdown({1: [line(float(i), 100 + i) for i in range(3)]}, 1, 1.0, (0, 3), 0.0)
    assert parse_parts_csv(parts_csv(points), "agent.csv") == tuple(points)
    with pytest.raises(ValueError, match=r"agent\.csv: expected the header"):
        parse_parts_csv("t_s,rss\n", "agent.csv")
    with pytest.raises(ValueError, match=r"agent\.csv: line 3"):
        parse_parts_csv(parts_csv(points).replace("\n1.000,", "\n1.000,x", 1), "agent.csv")


def test_run_json_carries_the_breakdown(fixture_runs: Path, tmp_path: Path) -> None:
    source = sorted((fixture_runs / "single" / "runs").iterdir())[0]
    plain = load_run(source)
    assert plain.rss_parts is None and plain.rss_parts_timeline == ()
    assert "rss_parts" not in json.loads(run_json(plain))  # older records stay as they were

    lines = [line(10.0 + i, 100 + i) for i in range(4)]
    found, points = breakdown({1: lines}, 1, 1.0, (10.0, 13.0), 10.0)
    run = dataclasses.replace(plain, rss_parts=found)
    (tmp_path / "run.json").write_text(run_json(run))
    (tmp_path / "agent.csv").write_text(parts_csv(points))
    again = load_run(tmp_path)
    assert again.rss_parts == found
    assert again.rss_parts_timeline == tuple(points)

    document = json.loads(run_json(run))
    document["rss_parts"]["at_peak"]["file_bytes"] = "lots"
    (tmp_path / "run.json").write_text(json.dumps(document))
    with pytest.raises(SchemaError, match=r"rss_parts\.at_peak\.file_bytes"):
        load_run(tmp_path)


REPORT = """Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1             141           880
    1     32          10            4912           188

# arenas allocated total           =                   66
# arenas reclaimed                 =                    0
# arenas highwater mark            =                   66
# arenas allocated current         =                   66
66 arenas * 1048576 bytes/arena    =           69,206,016

# bytes in allocated blocks        =           67,510,752
another thread's log line
# bytes in available blocks        =              335,088
22 unused pools * 16384 bytes      =              360,448
# bytes lost to pool headers       =              199,584
Total                              =           69,206,016

arena map counts
# arena map mid nodes              =                    1
Total                              =              655,360

           14 free PyDictObjects * 48 bytes each =                  672
"""


def test_parse_debugmallocstats() -> None:
    figures, foreign = parse_debugmallocstats(REPORT)
    assert figures == {
        "arenas": 66,
        "arena_bytes": 69_206_016,
        "used": 67_510_752,
        "free": 69_206_016 - 67_510_752,
        "available_blocks": 335_088,
        "unused_pools": 360_448,
    }
    assert foreign == ["another thread's log line"]
    # PYTHONMALLOC=malloc: no arena section.
    assert parse_debugmallocstats("           14 free PyDictObjects * 48 bytes each = 672\n") == (
        None,
        [],
    )


def test_read_status() -> None:
    text = "Name:\tpython\nVmRSS:\t  2048 kB\nRssAnon:\t  1024 kB\nRssFile:\t 1000 kB\n"
    assert read_status(text + "RssShmem:\t 24 kB\n") == {
        "rss": 2048 * 1024,
        "anon": 1024 * 1024,
        "file": 1000 * 1024,
        "shmem": 24 * 1024,
    }


def test_report_shows_the_decomposition(fixture_runs: Path) -> None:
    from profiling.report.render import render_html, render_json, render_markdown
    from profiling.results.folder import load_runs
    from profiling.verdict.compare import compare

    runs = load_runs(fixture_runs / "three-modes")
    lines = [line(10.0 + i, 100 + 10 * i) for i in range(4)]  # 30 % unaccounted at 130
    found, points = breakdown({1: lines}, 1, 1.0, (10.0, 13.0), 10.0)
    first = runs[0].configuration
    with_parts = [
        dataclasses.replace(r, rss_parts=found, rss_parts_timeline=tuple(points))
        if r.configuration == first
        else r
        for r in runs
    ]
    c = compare(with_parts)
    md = render_markdown(c)
    assert "## What makes up RSS at the peak" in md
    row = next(r for r in md.splitlines() if r.startswith(f"| {first} | 130.0 |"))
    # 40 pymalloc, 6 free, 20 malloc, 5 free held, 10 mmapped, 9 file; 40 unaccounted.
    assert "| 40.0 | 6.0 | 20.0 | 5.0 | 10.0 | 9.0 | 40.0 (+30.8 %) (over 10 %) |" in row
    section = md.split("## What makes up RSS at the peak")[1].split("\n## ")[0]
    table = [r for r in section.splitlines() if r.startswith("| ")]
    assert len(table) == 3  # header, rule and the one configuration with agent data
    summary = json.loads(render_json(c))["configurations"]
    assert summary[first]["rss_parts_at_peak"]["pymalloc_used_bytes"] == 40 * MIB
    assert all("rss_parts_at_peak" not in v for k, v in summary.items() if k != first)
    assert "What makes up RSS over time" in render_html(c)
    # Without agent data, no section (the golden reports stay as they were).
    assert "What makes up RSS" not in render_markdown(compare(runs))


def test_no_agent_option_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from profiling.run.options import add_server_arguments, server_plan
    from profiling.run.plans import ServerPlan
    from profiling.run.settings import ServerSettings, from_args

    parser = argparse.ArgumentParser()
    add_server_arguments(parser)

    def plan(argv: list[str]) -> ServerPlan:
        return server_plan(from_args(ServerSettings, parser.parse_args(argv)))

    monkeypatch.delenv("MEMDIAG_NO_AGENT", raising=False)
    assert plan([]).agent is True
    assert plan(["--no-agent"]).agent is False
    monkeypatch.setenv("MEMDIAG_NO_AGENT", "1")
    assert plan([]).agent is False
    monkeypatch.setenv("MEMDIAG_NO_AGENT", "maybe")
    with pytest.raises(Exception, match="MEMDIAG_NO_AGENT='maybe'"):
        plan([])


def test_agent_overhead_ratios() -> None:
    from profiling.benchmarks.agent_overhead import Measured, overhead

    runs = [
        Measured(True, 30.0, 110 * MIB, 0.4, True),
        Measured(False, 29.0, 100 * MIB, None, True),
        Measured(True, 32.0, 130 * MIB, 0.6, True),
        Measured(False, 31.0, 120 * MIB, None, False),
    ]
    o = overhead(runs)
    assert o.cpu_ratio == pytest.approx(31.0 / 30.0)
    assert o.rss_ratio == pytest.approx(120 / 110)
    assert o.agent_cpu_percent == pytest.approx(0.5)
    assert overhead(runs[:1]).cpu_ratio is None  # nothing to compare with
