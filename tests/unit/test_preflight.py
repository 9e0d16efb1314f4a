"""The pre-flight's decision (pure): given per-poll costs, a rate and a budget, the size it
picks or the refusal it gives; and that what it chose is recorded with the runs."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from profiling.errors import UsageError
from profiling.probes.pollcpu import PollCost
from profiling.report.render import render_json, render_markdown
from profiling.results.folder import load_runs, load_summary
from profiling.run.plans import Job, LoadPlan
from profiling.run.preflight import (
    BUDGET_CORES,
    OTHER_WORK_FACTOR,
    CostOf,
    Demand,
    busy_line,
    check_fixed,
    demand_of,
    fit_size,
    ladder,
    preflight,
    preflight_jobs,
)
from profiling.run.servers import Configuration
from profiling.verdict.compare import compare


def linear(ms_per_segment: float) -> tuple[list[int], CostOf]:
    """A cost model whose estimate (the other work's factor included) is `ms_per_segment`
    CPU ms per segment, and the sizes it was asked for."""
    asked: list[int] = []

    def cost_of(segments: int, words: int) -> PollCost:
        asked.append(segments)
        per_poll_s = segments * ms_per_segment / 1000 / OTHER_WORK_FACTOR
        return PollCost(segments, words, segments * 1024, per_poll_s / 2, per_poll_s / 4,
                        per_poll_s / 4)  # fmt: skip

    return asked, cost_of


def storm(rate: float = 10.0, **options: str | int | float) -> Job:
    plan = LoadPlan(scenario="polling_storm", rate_per_s=rate, options=dict(options))
    return Job(Configuration("db-polling", "db-polling"), 1, 1, load=plan)


def quiet(_line: str) -> None:
    pass


def test_ladder_starts_at_the_scenarios_default() -> None:
    assert ladder(1000) == (1000, 700, 500, 300, 200)
    assert ladder(300) == (300, 200)
    assert ladder(600) == (600, 500, 300, 200)


def test_fit_takes_the_default_when_it_fits_and_times_only_it() -> None:
    asked, cost_of = linear(0.04)  # 1000 segments: 40 ms a poll, 0.4 cores at 10/s
    assert fit_size([Demand(10.0, 12, 1000)], cost_of) == 1000
    assert asked == [1000]


def test_fit_picks_the_largest_size_under_the_budget() -> None:
    _, cost_of = linear(0.09)  # 1000: 0.9 cores; 700: 0.63; 500: 0.45 at 10/s
    assert fit_size([Demand(10.0, 12, 1000)], cost_of) == 500
    # Twice the rate halves the size that fits: 300 is 0.54 cores, 200 is 0.36.
    assert fit_size([Demand(20.0, 12, 1000)], cost_of) == 200
    # A tighter budget, a smaller size; every demand must fit.
    assert fit_size([Demand(10.0, 12, 1000)], cost_of, budget_cores=0.3) == 300
    both = [Demand(10.0, 12, 1000), Demand(20.0, 12, 1000)]
    assert fit_size(both, cost_of) == 200


def test_fit_gives_none_when_nothing_fits() -> None:
    _, cost_of = linear(1.0)  # 200 segments: 0.2 s a poll, 2 cores at 10/s
    assert fit_size([Demand(10.0, 12, 1000)], cost_of) is None


def test_a_fixed_size_that_fits_a_core_passes() -> None:
    _, cost_of = linear(0.09)  # 1000 at 10/s: 0.9 cores, tight but it keeps up
    assert check_fixed(Demand(10.0, 12, 1000, 1000), cost_of) is None


def test_a_fixed_size_above_a_core_is_refused_with_a_rate_and_a_size_that_fit() -> None:
    _, cost_of = linear(0.09)  # 1000 at 20/s: 1.8 cores
    text = check_fixed(Demand(20.0, 12, 1000, 1000), cost_of)
    assert text is not None and "\n" not in text
    assert "180 % of a core" in text
    # 0.5 cores / 90 ms = 5.5/s; at 20/s, 200 segments (0.36 cores) fit.
    assert "--rate 5.5" in text and "-O initial_segments=200" in text


def test_jobs_get_one_fitted_size_and_its_record() -> None:
    _, cost_of = linear(0.09)
    lines: list[str] = []
    jobs = [storm(), replace(storm(), config=Configuration("lean", "lean"), order=2)]
    out = preflight_jobs(jobs, time_one=cost_of, say=lines.append, load_1m=0.0)
    assert [j.load.options for j in out] == [{"initial_segments": 500}] * 2
    record = out[0].load.preflight
    assert record is not None and record == out[1].load.preflight
    assert record.fitted and record.segments == 500 and record.rate_per_s == 10.0
    assert record.cpu_share == pytest.approx(0.45) and record.budget_share == BUDGET_CORES
    (line,) = lines
    assert line == record.text
    assert "decodes a" in line and "polling 500-segment tasks" in line and "10 polls/s" in line


def test_a_sweep_over_rates_gets_the_size_of_its_highest_rate() -> None:
    _, cost_of = linear(0.09)
    out = preflight_jobs([storm(5.0), storm(20.0)], time_one=cost_of, say=quiet)
    assert [j.load.options for j in out] == [{"initial_segments": 200}] * 2


def test_a_sweep_over_segments_keeps_its_smaller_points() -> None:
    _, cost_of = linear(0.09)
    jobs = [storm(segments=200), storm(segments=1300)]
    out = preflight_jobs(jobs, time_one=cost_of, say=quiet, load_1m=0.0)
    # 200 polls its own 200 segments (never more than its tasks have); 1300 is cut to 500.
    assert [j.load.options for j in out] == [
        {"segments": 200},
        {"segments": 1300, "initial_segments": 500},
    ]
    assert [j.load.preflight.segments for j in out if j.load.preflight] == [200, 500]


def test_the_default_size_that_fits_leaves_the_options_alone() -> None:
    _, cost_of = linear(0.04)
    (job,) = preflight_jobs([storm()], time_one=cost_of, say=quiet)
    assert job.load.options == {}
    assert job.load.preflight is not None and job.load.preflight.segments == 1000


def test_a_fixed_size_is_checked_not_changed() -> None:
    _, cost_of = linear(0.09)
    (job,) = preflight_jobs([storm(initial_segments=700)], time_one=cost_of, say=quiet)
    assert job.load.options == {"initial_segments": 700}
    assert job.load.preflight is not None and not job.load.preflight.fitted
    with pytest.raises(UsageError, match="--rate"):
        preflight_jobs([storm(50.0, initial_segments=700)], time_one=cost_of, say=quiet)


def test_even_the_smallest_size_above_a_core_is_refused() -> None:
    _, cost_of = linear(1.0)
    with pytest.raises(UsageError, match="even 200-segment tasks"):
        preflight_jobs([storm()], time_one=cost_of, say=quiet)


def test_which_loads_the_preflight_fits() -> None:
    assert demand_of(storm().load) == Demand(10.0, 12, 1000)
    assert demand_of(storm(poll_rate=4.0, initial_segments=0, segments=400).load) == Demand(
        4.0, 12, 400, 400
    )
    assert demand_of(LoadPlan(scenario="soak")) == Demand(10.0, 8, 300)
    for other in ("dashboard", "task_churn", "uploads", None):
        assert demand_of(LoadPlan(scenario=other)) is None
    assert demand_of(LoadPlan(scenario=None, locustfile=Path("mine.py"))) is None


def test_a_busy_machine_is_said() -> None:
    assert busy_line(1.5, 2) is None and busy_line(3.0, None) is None
    line = busy_line(6.1, 2)
    assert line is not None and "load 6.1 on 2 CPUs" in line


def test_no_preflight_times_nothing() -> None:
    jobs = [storm(initial_segments=20000, segments=20000)]
    assert preflight(jobs, argparse.Namespace(no_preflight=True)) == jobs


def test_the_choice_is_in_run_json_summary_and_report(fixture_runs: Path, tmp_path: Path) -> None:
    _, cost_of = linear(0.09)
    (job,) = preflight_jobs([storm()], time_one=cost_of, say=quiet)
    folder = tmp_path / "three-modes"
    shutil.copytree(fixture_runs / "three-modes", folder)
    runs = [replace(r, preflight=job.load.preflight, timeline={}) for r in load_runs(folder)]
    (folder / "summary.json").write_text(render_json(compare(runs)))
    shutil.rmtree(folder / "runs")
    again = load_summary(folder).runs
    assert [r.preflight for r in again] == [job.load.preflight] * len(runs)
    assert f"| pre-flight | {job.load.preflight.text} |" in render_markdown(compare(again))  # type: ignore[union-attr]
