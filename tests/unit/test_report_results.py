"""Run folders and summaries: round trips, validation errors naming file and field."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from profiling.errors import UsageError
from profiling.results.folder import (
    load_any,
    load_run,
    load_runs,
    load_summary,
    load_timeline,
    rebase_dirs,
    run_json,
)
from profiling.results.validate import SchemaError


def first_run_dir(fixture_runs: Path) -> Path:
    return sorted((fixture_runs / "three-modes" / "runs").iterdir())[0]


def test_load_run_reads_figures_and_timeline(fixture_runs: Path) -> None:
    run = load_run(first_run_dir(fixture_runs))
    assert run.configuration == "db-polling"
    assert run.repeat == 1 and run.order == 1 and run.profile == "none"
    assert run.status is not None and run.status.p99_ms > run.status.p50_ms
    assert set(run.memory) == {"server", "db", "loadgen"}
    server = run.memory["server"]
    assert server.kernel_peak_bytes is not None
    assert server.kernel_peak_bytes >= server.sampled_peak_bytes
    assert set(run.timeline) == {"server", "db"}
    series = run.timeline["server"]
    assert len(series.t_s) == len(series.rss_bytes) > 10
    assert max(series.rss_bytes) == max(series.rss_bytes)  # ints, not strings
    assert run.error_rate == 0.0


def test_run_json_round_trip(fixture_runs: Path, tmp_path: Path) -> None:
    run = load_run(first_run_dir(fixture_runs))
    (tmp_path / "run.json").write_text(run_json(run), encoding="utf-8")
    again = load_run(tmp_path)
    assert replace(again, timeline={}) == replace(run, timeline={})
    text = (tmp_path / "run.json").read_text()
    document = json.loads(text)
    assert document["schema_version"] == 1
    assert text == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_load_runs_orders_by_schedule_and_sets_dir(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    assert [r.order for r in runs] == sorted(r.order for r in runs)
    assert [r.configuration for r in runs[:3]] == ["db-polling", "memory-first", "lean"]
    assert all(r.dir and r.dir.startswith("runs/") for r in runs)
    assert {r.profile for r in runs} == {"none", "tracemalloc", "memray"}


def corrupt(tmp_path: Path, fixture_runs: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    target = tmp_path / "run"
    shutil.copytree(first_run_dir(fixture_runs), target)
    document = json.loads((target / "run.json").read_text())
    edit(document)
    (target / "run.json").write_text(json.dumps(document))
    return target


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["memory"]["server"].update(final_bytes="lots"),
            "field memory.server.final_bytes: expected an integer, got 'lots'",
        ),
        (
            lambda d: d["scenario"].pop("duration_s"),
            "field scenario.duration_s: expected a value, missing",
        ),
        (lambda d: d.update(valid="yes"), "field valid: expected true or false"),
        (lambda d: d.update(schema_version=99), "schema_version 99 is not supported"),
        (lambda d: d.update(status_endpoint="GET /nope"), "field status_endpoint: expected one of"),
        (lambda d: d.update(profile="perf"), "field profile"),
        (
            lambda d: d["latency"]["POST /api/tasks"].update(p99_ms=float("nan")),
            "expected a finite number",
        ),
    ],
)
def test_validation_names_file_and_field(
    tmp_path: Path, fixture_runs: Path, edit, message: str
) -> None:  # type: ignore[no-untyped-def]
    target = corrupt(tmp_path, fixture_runs, edit)
    with pytest.raises(SchemaError) as info:
        load_run(target)
    assert str(target / "run.json") in str(info.value)
    assert message in str(info.value)
    assert info.value.exit_code == 3


def test_bad_json_missing_folder_and_file(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_run(tmp_path)
    with pytest.raises(UsageError, match="No such run folder"):
        load_run(tmp_path / "absent")
    with pytest.raises(UsageError, match="No such run folder or summary file"):
        load_summary(tmp_path / "absent.json")
    with pytest.raises(UsageError, match="No such file"):
        load_summary(tmp_path)  # a folder without summary.json


def test_timeline_reads_the_samplers_wide_csv(tmp_path: Path) -> None:
    # The probes' sampler writes more columns (phase, pid, peak ...); only three matter here.
    csv_path = tmp_path / "rss.csv"
    csv_path.write_text(
        "t_s,label,phase,pid,rss_bytes,peak_rss_bytes\n"
        "0.0,server,warmup,11,1000,1000\n0.5,db,warmup,12,2000,2000\n1.0,server,steady,11,1500,1500\n"
    )
    timeline = load_timeline(csv_path)
    assert timeline["server"].t_s == (0.0, 1.0)
    assert timeline["server"].rss_bytes == (1000, 1500)
    assert timeline["db"].rss_bytes == (2000,)
    csv_path.write_text("t_s,label,rss_bytes\n0.0,server,many\n")
    with pytest.raises(SchemaError, match="line 2"):
        load_timeline(csv_path)
    csv_path.write_text("time,rss\n")
    with pytest.raises(SchemaError, match="missing column"):
        load_timeline(csv_path)


def test_summary_round_trip_keeps_runs_and_timelines(fixture_runs: Path, tmp_path: Path) -> None:
    from profiling.report.render import render_json
    from profiling.verdict.compare import compare

    folder = tmp_path / "three-modes"
    shutil.copytree(fixture_runs / "three-modes", folder)
    runs = load_runs(folder)
    (folder / "summary.json").write_text(render_json(compare(runs)))
    summary = load_summary(folder)
    assert summary.valid is True
    assert len(summary.runs) == len(runs)
    assert summary.runs[0].timeline == runs[0].timeline  # found through runs[i].dir
    # Without the run folders, the summary alone still loads (no timelines).
    shutil.rmtree(folder / "runs")
    alone = load_any(folder)
    assert len(alone) == len(runs) and alone[0].timeline == {}
    assert replace(alone[0], timeline={}) == replace(runs[0], timeline={})


def test_summary_needs_runs(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "kind": "memdiag-summary",
                "valid": True,
                "configurations": {},
                "verdicts": [],
                "runs": [],
            }
        )
    )
    with pytest.raises(SchemaError, match="field runs: expected at least one run"):
        load_summary(path)
    path.write_text(json.dumps({"schema_version": 1, "kind": "memdiag-run"}))
    with pytest.raises(SchemaError, match="field kind: expected 'memdiag-summary'"):
        load_summary(path)


def test_rebase_dirs(fixture_runs: Path, tmp_path: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    moved = rebase_dirs(runs, fixture_runs / "three-modes", tmp_path / "out")
    target = (tmp_path / "out" / moved[0].dir).resolve()  # type: ignore[operator]
    assert target == (fixture_runs / "three-modes" / runs[0].dir).resolve()  # type: ignore[operator]
