"""Plots that never draw what was not measured and hold many configurations (issue 23,
problems 1 and 7)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from profiling.report import plot_style as style
from profiling.report import plots
from profiling.report.claims_plot import claims_figure
from profiling.report.sweep_plot import sweep_figure
from profiling.results.decompose import PartsPoint, RssParts
from profiling.results.folder import MIB, load_runs, read_json
from profiling.verdict.claims import PLAN_FILE, evaluate, plan_from_document
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


def _outside_px(fig: Figure) -> float:
    """How far the figure's content reaches past its picture's edges, in pixels (negative:
    the margin left inside), drawn as `plots._png` draws it: at its own size, no crop."""
    fig.set_dpi(plots.DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    content = fig.get_tightbbox(canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    return fig.dpi * max(-content.x0, -content.y0, content.x1 - width, content.y1 - height)


def test_plots_of_long_names_fit_their_pictures(
    fixture_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A picture is drawn once at the figure's size, nothing cropped to fit (no
    bbox_inches="tight"): the constrained layout alone must keep every label, title and
    legend inside. The ablation's configurations have the longest names, six panels the
    narrowest ones."""
    folder = fixture_runs / "ablation"
    ablation = evaluate(plan_from_document(read_json(folder / PLAN_FILE)), load_runs(folder))
    c = ablation.comparisons[0][1]
    parts = RssParts(100 * MIB, 40 * MIB, 6 * MIB, 20 * MIB, 5 * MIB, 10 * MIB, 9 * MIB)
    timeline = tuple(PartsPoint(float(t), parts) for t in range(10))
    c = compare(
        [
            replace(r, rss_parts_timeline=timeline) if k == 0 else r
            for conf in c.configurations
            for k, r in enumerate(conf.runs)
        ]
    )
    reaches: list[float] = []

    def measure(fig: Figure) -> str:
        reaches.append(_outside_px(fig))
        return ""

    monkeypatch.setattr(plots, "_png", measure)
    made = plots.all_plots(c)
    reach = dict(zip([p.title for p in made], reaches, strict=True))
    assert "What makes up RSS over time (server)" in reach
    figure = claims_figure(ablation)
    assert figure is not None
    reach["claims"] = _outside_px(figure)
    assert {title: px for title, px in reach.items() if px > 0} == {}
