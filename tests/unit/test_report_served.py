"""A run is judged on what the server served, not what the load sent; comparability marks
the configuration that missed its own target; a failed attribution run does not void a
comparison (issue 23, problems 2, 3 and 9)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from profiling.report.render import render_json, render_markdown
from profiling.results.folder import RunResult, load_runs
from profiling.verdict.comparable import POLLS_PER_S, TARGET
from profiling.verdict.compare import compare
from profiling.verdict.served import run_problems, run_valid, served_problem


def _slow(runs: list[RunResult], name: str, served_per_s: float) -> list[RunResult]:
    """`name`'s runs served `served_per_s` polls/s although the load sent the full rate."""
    return [
        replace(r, work=replace(r.work, polls_per_s=served_per_s))
        if r.configuration == name and r.work is not None
        else r
        for r in runs
    ]


def test_a_run_that_sent_its_rate_but_served_less_is_invalid(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    target = runs[0].scenario.target_rate_per_s
    slow = _slow(runs, "db-polling", target * 0.86)
    run = next(r for r in slow if r.configuration == "db-polling" and r.profile == "none")
    assert run.valid and run.load.achieved_rate_per_s >= target * 0.99  # what was sent
    assert not run_valid(run)
    problem = served_problem(run)
    assert problem is not None and problem.startswith(f"served {target * 0.86:.1f} of")
    c = compare(slow)
    assert not c.valid and "db-polling" in c.invalid_configurations
    assert any("served" in reason for reason in c.invalid_reasons)
    doc = json.loads(render_json(c))
    assert doc["configurations"]["db-polling"]["valid"] is False
    db_runs = [r for r in doc["runs"] if r["configuration"] == "db-polling"]
    assert db_runs and not any(r["valid"] for r in db_runs if r["profile"] == "none")
    # Run conditions quote what was served, and name what was sent as such.
    md = render_markdown(c)
    row = next(line for line in md.splitlines() if line.startswith("| target rate |"))
    assert "served" in row and "achieved" not in row


def test_served_on_target_stays_valid(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    assert all(run_problems(r) == r.invalid_reasons for r in runs)
    assert compare(runs).valid


def test_comparability_marks_the_side_that_missed_its_target(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    target = runs[0].scenario.target_rate_per_s
    # The baseline fell behind (86 % of its target); the others served it in full.
    c = compare(_slow(runs, "db-polling", target * 0.86))
    marked = [(n.configuration, n.metric, n.baseline) for n in c.not_comparable]
    assert marked == [("db-polling", POLLS_PER_S, TARGET)]
    md = render_markdown(c)
    work = md.split("## Work")[1].split("##")[0]
    assert "| lean |" in work
    lean_row = next(line for line in work.splitlines() if line.startswith("| lean |"))
    db_row = next(line for line in work.splitlines() if line.startswith("| db-polling |"))
    assert lean_row.rstrip().endswith("| yes |")
    assert "no: polls/s -14 %" in db_row


def test_each_sweep_point_is_judged_against_its_own_target(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "sweep")
    first = min(r.sweep_value() or 0 for r in runs)  # type: ignore[type-var]
    # db-polling falls behind at the lowest rate only: that point, and no other, is invalid.
    slowed = [
        replace(r, work=replace(r.work, polls_per_s=r.scenario.target_rate_per_s * 0.5))
        if r.configuration == "db-polling" and r.sweep_value() == first and r.work is not None
        else r
        for r in runs
    ]
    c = compare(slowed)
    assert c.sweep is not None
    bad = [(p.configuration, p.value) for p in c.sweep.points if not p.valid]
    assert bad == [("db-polling", first)]
    md = render_markdown(c)
    sweep = md.split("### Sweep over")[1]
    assert sweep.count("INVALID") == 1 and "served" in sweep
    # The verdict speaks of the last point; the invalid earlier point is named too.
    assert f"Sweep over target_rate_per_s: invalid points db-polling at {first}" in md
    assert any(f"at target_rate_per_s={first}: served" in r for r in c.invalid_reasons)


def test_a_failed_attribution_run_does_not_void_the_comparison(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    stalled = [
        replace(r, valid=False, invalid_reasons=("no requests in the steady phase",))
        if r.profile == "tracemalloc"
        else r
        for r in runs
    ]
    c = compare(stalled)
    assert c.valid and not c.invalid_reasons
    assert c.attribution_problems == (
        "db-polling tracemalloc run 1: no requests in the steady phase",
    )
    md = render_markdown(c)
    assert "Invalid run(s)" not in md and "tracemalloc run 1" in md
