"""compare(): grouping, medians, attribution runs kept apart, A/A, sweeps, mismatches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from profiling.results.folder import load_runs
from profiling.verdict.compare import METRICS, compare


def test_three_modes_medians_and_verdicts(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    c = compare(runs, name="t")
    assert [conf.name for conf in c.configurations] == ["db-polling", "memory-first", "lean"]
    assert c.baseline.name == "db-polling"
    db_polling = c.configurations[0]
    # Four measured runs; the tracemalloc run is attribution only.
    assert len(db_polling.runs) == 4 and len(db_polling.attribution) == 1
    measured_peaks = sorted(r.memory["server"].kernel_peak_bytes or 0 for r in db_polling.runs)
    assert db_polling.medians["peak_rss_bytes"] == (measured_peaks[1] + measured_peaks[2]) / 2
    # Three configurations: three pairs, each with every metric measured by both.
    pairs = {(v.baseline, v.candidate) for v in c.verdicts}
    assert pairs == {
        ("db-polling", "memory-first"),
        ("db-polling", "lean"),
        ("memory-first", "lean"),
    }
    v = c.verdict("peak_rss_bytes", "db-polling", "lean")
    assert v is not None and v.outcome == "better" and v.label.endswith("x less")
    assert c.valid and not c.invalid_reasons and not c.scenario_mismatch
    assert c.sweep is None


def test_attribution_runs_never_enter_medians(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    measured_only = [r for r in runs if r.profile == "none"]
    assert (
        compare(runs).configurations[2].medians == compare(measured_only).configurations[2].medians
    )


def test_aa_run_reports_no_significant_change(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "aa"))
    assert [conf.name for conf in c.configurations] == ["lean", "lean#2"]
    assert all(len(conf.runs) == 3 for conf in c.configurations)
    assert not any(v.significant for v in c.verdicts)


def test_single_repeat_is_inconclusive_but_keeps_the_ratio(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "single"))
    v = c.verdict("peak_rss_bytes", "db-polling", "lean")
    assert v is not None
    assert v.label == "inconclusive (n=1, need 4)"
    assert v.ratio is not None and v.ratio < 0.5


def test_invalid_runs_and_scenario_mismatch(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "invalid"))
    assert not c.valid
    assert c.invalid_reasons == ("lean run 1: achieved rate 35.1/s is 12 % below the target 40/s",)
    runs = load_runs(fixture_runs / "three-modes")
    other = replace(
        runs[1], scenario=replace(runs[1].scenario, params={"segments": 3000, "tasks": 4})
    )
    mixed = compare([runs[0], other])
    assert mixed.scenario_mismatch == ("params.segments: 5000 vs 3000",)


def test_sweep_groups_points_and_tables_use_the_last_value(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "sweep"))
    assert c.sweep is not None
    assert c.sweep.param == "target_rate_per_s"
    assert c.sweep.values == (10.0, 20.0, 40.0)
    assert len(c.sweep.points) == 6
    assert not c.scenario_mismatch  # the swept rate is not a mismatch
    assert all(r.scenario.target_rate_per_s == 40.0 for conf in c.configurations for r in conf.runs)
    rss = [
        p.medians["peak_rss_bytes"] or 0 for p in c.sweep.points if p.configuration == "db-polling"
    ]
    assert rss == sorted(rss)  # the fixture grows with the rate


def test_pair_verdict_for_a_pair_not_stored(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "three-modes"))
    reverse = c.pair_verdict("peak_rss_bytes", "lean", "db-polling")
    assert reverse.outcome == "worse"
    assert c.pair_verdict("peak_rss_bytes", "lean", "nope").outcome == "missing"


@pytest.mark.parametrize("metric", [m for m in METRICS])
def test_every_metric_formats(metric) -> None:  # type: ignore[no-untyped-def]
    assert metric.format(None) == "n/a"
    assert metric.format(1.0)
    assert metric.format_delta(-2.0).startswith("-")


def test_compare_needs_runs() -> None:
    with pytest.raises(ValueError):
        compare([])
