"""Open connections as part of the work: the comparability rule, the Work table, run.json,
and growth fitted only once RSS settled (profiling.results.settle)."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from loadtests.results import (
    GeneratorStats,
    LoadResult,
    PhaseResult,
    TaskWork,
    WorkResult,
)
from profiling.probes.sampler import Sample
from profiling.report.per_connection import mib_per_connection
from profiling.report.render import render_markdown, verdict_paragraph
from profiling.results import figures, settle
from profiling.results.folder import load_runs, run_json
from profiling.results.model import Phases, RunResult
from profiling.results.record import run_from_record
from profiling.results.validate import Fields
from profiling.verdict.comparable import CONNECTIONS, work_differences
from profiling.verdict.compare import compare

MIB = 1024 * 1024


def with_connections(runs: list[RunResult], means: dict[str, float]) -> list[RunResult]:
    out = []
    for r in runs:
        if r.work is not None and r.configuration in means:
            mean = means[r.configuration]
            r = replace(r, work=replace(r.work, connections_max=round(mean), connections_mean=mean))
        out.append(r)
    return out


def test_connections_more_than_ten_percent_apart_are_not_comparable(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    names = sorted({r.configuration for r in runs})
    same = compare(with_connections(runs, dict.fromkeys(names, 10.0)))
    assert not [n for n in same.not_comparable if n.metric == CONNECTIONS]
    apart = {name: 10.0 for name in names} | {"lean": 50.0}
    c = compare(with_connections(runs, apart))
    assert [(n.configuration, n.metric) for n in c.not_comparable] == [("lean", CONNECTIONS)]
    assert "lean held 50.0 connections open on average" in verdict_paragraph(c)
    md = render_markdown(c)
    assert "open connections (max / mean)" in md
    assert "50 / 50.0" in md and "no: connections +400 %" in md


def test_extra_connections_of_a_slow_design_are_not_more_work(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    base = next(r.work for r in runs if r.work is not None)
    tabs = replace(base, connections_max=10, connections_mean=10.0, tabs=10)
    # 10 tabs whose polls were pending opened 28 connections (a browser would): same work.
    slow = replace(tabs, connections_max=31, connections_mean=28.2)
    assert work_differences("fast", tabs, "slow", slow) == []
    # A design that held only 6 of the 10 tabs' connections open is flagged.
    (few,) = work_differences("fast", tabs, "closing", replace(tabs, connections_mean=6.0))
    assert (few.metric, few.baseline_value, few.value) == (CONNECTIONS, 10.0, 6.0)
    assert "(10 tabs)" in render_markdown(compare(with_tabs(runs)))


def with_tabs(runs: list[RunResult]) -> list[RunResult]:
    return [
        replace(r, work=replace(r.work, connections_max=10, connections_mean=10.0, tabs=10))
        if r.work is not None
        else r
        for r in runs
    ]


def test_runs_without_connection_figures_are_not_checked_for_them(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    base = next(r.work for r in runs if r.work is not None)
    counted = replace(base, connections_max=200, connections_mean=200.0)
    assert work_differences("a", base, "b", counted) == []  # the baseline has none
    md = render_markdown(compare(runs))
    assert "open connections" not in md  # an old run's Work table stays as it was


def test_connection_figures_round_trip_through_run_json(fixture_runs: Path) -> None:
    run = next(r for r in load_runs(fixture_runs / "three-modes") if r.work is not None)
    old_text = run_json(run)
    assert "connections" not in old_text and "settled" not in old_text
    assert run.work is not None
    new = replace(
        run,
        work=replace(run.work, connections_max=12, connections_mean=10.5, tabs=10),
        settled_after_s=1.5,
        rss_settled=True,
    )
    back = run_from_record(Fields(json.loads(run_json(new)), "run.json"))
    assert back.work is not None
    assert (back.work.connections_max, back.work.connections_mean) == (12, 10.5)
    assert back.work.tabs == 10
    assert (back.settled_after_s, back.rss_settled) == (1.5, True)


def sample(t_s: float, rss_mib: float, phase: str = "steady", conns: int | None = None) -> Sample:
    rss = int(rss_mib * MIB)
    return Sample(t_s, "server", phase, 1, rss, rss, rss, 0, 0, t_s, 1, None, None, conns)


def load(settled_at_s: float | None, tabs: int | None = 10) -> LoadResult:
    phase = PhaseResult(20.0, 0, 0, {}, {}, {})
    work = WorkResult(
        100, 995.0, 1000.0, {"a": TaskWork(100, 100, 1, 1, 10)}, tabs=tabs,
        connections_opened=tabs, connections_max_per_tab=1, settled_at_s=settled_at_s,
    )  # fmt: skip
    phases = {"total": phase, "steady": phase}
    return LoadResult(
        1, "polling_storm", "h", 10, 1, 1, 5.0, 10.0, {"poll": 10.0}, phases,
        GeneratorStats((), False), work=work,
    )  # fmt: skip


def test_growth_is_fitted_only_once_rss_settled() -> None:
    # A ramp of 10 MiB/s for 4 s (the tabs' connections filling), then flat for 16 s.
    samples = [sample(10.0 + t, 100 + 10 * min(t, 4.0)) for t in range(21)]
    phases = Phases(10.0, 30.0, 31.0)
    ramp = figures.process_memory(samples, "server")
    assert ramp is not None and ramp.growth_mib_per_min is not None
    assert ramp.growth_mib_per_min > 60  # the whole phase quotes the ramp as growth
    settled = settle.settled_from(load(1004.0), phases, 20.0)
    assert settled == settle.Settled(4.0, 14.0, True)
    flat = figures.process_memory(samples, "server", settled=settled)
    assert flat is not None and flat.growth_mib_per_min == pytest.approx(0.0)
    assert flat.sampled_peak_bytes == 140 * MIB  # the peak still covers the whole phase


def test_rss_that_settles_late_or_never_has_no_growth() -> None:
    samples = [sample(10.0 + t, 100 + t) for t in range(21)]
    phases = Phases(10.0, 30.0, 31.0)
    late = settle.settled_from(load(1012.0), phases, 20.0)
    assert late is not None and late.settled is False and late.after_s == 12.0
    never = settle.settled_from(load(None), phases, 20.0)
    assert never is not None and never.settled is False and never.after_s is None
    for s in (late, never):
        m = figures.process_memory(samples, "server", settled=s)
        assert m is not None and m.growth_mib_per_min is None
    # A load without tabs (a locustfile, an older result): the whole phase, as before.
    assert settle.settled_from(load(None, tabs=None), phases, 20.0) is None


def test_unsettled_runs_are_named_in_the_verdict(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    marked = [replace(r, rss_settled=False) if r.repeat == 1 else r for r in runs]
    text = verdict_paragraph(compare(marked))
    assert "RSS had not settled in" in text
    assert "RSS had not settled" not in verdict_paragraph(compare(runs))


def test_connection_figures_over_the_steady_phase() -> None:
    samples = [sample(0, 1, "warmup", 3), sample(1, 1, "steady", 10), sample(2, 1, "steady", 12)]
    samples.append(replace(samples[1], label="db", connections=None))
    assert settle.connection_figures(samples) == (12, 11.0)
    assert settle.connection_figures([sample(1, 1, "steady", None)]) is None


def test_a_sweep_over_tabs_gives_peak_rss_per_connection(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "sweep")
    old = render_markdown(compare(runs))
    assert "open connections" not in old and "per open connection" not in old
    # Pretend the sweep's points held 10, 20 and 40 connections (one per tab).
    counted = [
        replace(r, work=replace(r.work, connections_max=int(v), connections_mean=float(v)))
        if r.work is not None and isinstance(v := r.sweep_value(), float)
        else r
        for r in runs
    ]
    c = compare(counted)
    slopes = mib_per_connection(c)
    assert set(slopes) == {"db-polling", "lean"}
    for name, slope in slopes.items():
        assert c.sweep is not None
        xy = [
            (float(p.connections_mean or 0), float(p.medians["peak_rss_bytes"] or 0) / MIB)
            for p in c.sweep.points
            if p.configuration == name
        ]
        # A least-squares slope is a weighted mean of the slopes between neighbours.
        steps = [(y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in pairwise(xy)]
        assert min(steps) - 1e-9 <= slope <= max(steps) + 1e-9
    md = render_markdown(c)
    assert "| open connections (mean) |" in md
    assert "Peak RSS per open connection" in md


def test_an_invalid_point_is_left_out_of_the_per_connection_slope(fixture_runs: Path) -> None:
    runs = [
        replace(r, work=replace(r.work, connections_max=int(v), connections_mean=float(v)))
        if r.work is not None and isinstance(v := r.sweep_value(), float)
        else r
        for r in load_runs(fixture_runs / "sweep")
    ]
    c = compare(runs)
    assert c.sweep is not None
    lean = [p for p in c.sweep.points if p.configuration == "lean"]
    # The last lean point did not serve its rate: it measured a queue, not connections.
    spoiled = replace(lean[-1], problems=("served 3 of 10 polls/s",))
    points = tuple(spoiled if p is lean[-1] else p for p in c.sweep.points)
    slopes = mib_per_connection(replace(c, sweep=replace(c.sweep, points=points)))
    kept = [
        (float(p.connections_mean or 0), float(p.medians["peak_rss_bytes"] or 0) / MIB)
        for p in lean[:-1]
    ]
    if len(kept) == 2:
        (x0, y0), (x1, y1) = kept
        assert slopes["lean"] == round((y1 - y0) / (x1 - x0), 3)
    else:
        assert slopes["lean"] != mib_per_connection(c)["lean"]
