"""Plots that never draw what was not measured and hold many configurations (issue 23,
problems 1 and 7)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from matplotlib.figure import Figure

from profiling.report import plot_style as style
from profiling.report.sweep_plot import sweep_figure
from profiling.results.folder import load_runs
from profiling.verdict.compare import compare


def test_a_point_with_no_value_is_a_gap_not_zero(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "sweep")
    top = max(float(v) for r in runs if isinstance(v := r.sweep_value(), int | float))
    # db-polling answered no request at the last point: no latency figures at all.
    silent = [
        replace(r, latency={}, status_endpoint=None)
        if r.configuration == "db-polling" and r.sweep_value() == top
        else r
        for r in runs
    ]
    fig = sweep_figure(compare(silent))
    assert fig is not None
    left, right = fig.axes[:2]
    db_line = next(line for line in right.get_lines() if line.get_label() == "db-polling")
    ys = [float(y) for y in db_line.get_ydata()]  # type: ignore[union-attr]
    assert math.isnan(ys[-1]) and 0.0 not in ys
    notes = [t.get_text() for t in right.texts]
    assert "db-polling: n/a" in notes
    for ax in (left, right):
        assert ax.get_xlabel() and ax.get_ylabel()


def test_missing_bars_are_noted_and_invalid_ones_hatched() -> None:
    fig = Figure()
    ax = fig.subplots()
    style.bars(ax, ["db-polling", "lean"], [("lag", [None, 2.5])], [True, False])
    assert len(ax.patches) == 1  # no bar for the value that was not measured
    assert [t.get_text() for t in ax.texts] == ["not measured"]
    assert ax.get_xticklabels()[0].get_text() == "db-polling (invalid)"
    fig2 = Figure()
    ax2 = fig2.subplots()
    style.bars(ax2, ["db-polling", "lean"], [("cpu", [90.0, 2.0])], [True, False])
    assert ax2.patches[0].get_hatch() == style.INVALID_HATCH and not ax2.patches[1].get_hatch()


def test_twenty_configurations_look_different() -> None:
    looks = {(style.color(i), style.linestyle(i), style.marker(i)) for i in range(20)}
    assert len(looks) == 20
    assert len({style.color(i) for i in range(20)}) == 20
    assert style.spans_decades([2.9, 721.0]) and not style.spans_decades([300.0, 420.0])
    assert style.wrap("memory-first:checkpoint_interval_s=1,copy_on_merge=true").count("\n") == 2
