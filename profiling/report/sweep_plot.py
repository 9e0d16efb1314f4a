"""The sweep plot for the HTML report: peak RSS and status p99 per swept value (pure).

A point with no value (no request answered: db-polling at 4,000 segments) is a gap with
an "n/a" note, never a line falling to 0 ms; a point whose runs were invalid (did not
serve their own target rate, say) is crossed in red; p99 goes on a log axis when the
configurations' values span decades, so the fast design is not flattened onto the floor.
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from profiling.report import plot_style as style
from profiling.report.plots import Plot, _figure, _png
from profiling.results.folder import MIB
from profiling.verdict.compare import Comparison, SweepPoint


def _peak_mib(p: SweepPoint) -> float | None:
    value = p.medians.get("peak_rss_bytes")
    return None if value is None else value / MIB


def _p99_ms(p: SweepPoint) -> float | None:
    return p.medians.get("status_p99_ms")


def sweep(c: Comparison) -> Plot | None:
    fig = sweep_figure(c)
    if fig is None:
        return None
    return Plot(
        f"Sweep over {c.sweep.param if c.sweep else ''}",
        "medians per point; n/a: no request answered (a gap, not 0); red cross: invalid point",
        _png(fig),
    )


def sweep_figure(c: Comparison) -> Figure | None:
    """The figure itself (tests read its lines: a missing value must be a gap)."""
    if c.sweep is None:
        return None
    fig, (left, right) = _figure(2)
    numeric = all(isinstance(v, int | float) for v in c.sweep.values)
    p99_all: list[float | None] = []
    for i, conf in enumerate(c.configurations):
        points = [p for p in c.sweep.points if p.configuration == conf.name]
        xs: list[float | str] = [
            float(p.value) if numeric and isinstance(p.value, int | float) else str(p.value)
            for p in points
        ]
        for ax, get in ((left, _peak_mib), (right, _p99_ms)):
            ys = [get(p) for p in points]
            if ax is right:
                p99_all += ys
            drawn = [math.nan if y is None else y for y in ys]
            ax.plot(xs, drawn, marker=style.marker(i), color=style.color(i),
                    linestyle=style.linestyle(i), label=conf.name)  # fmt: skip
            crossed = [
                (x, y)
                for x, y, p in zip(xs, ys, points, strict=True)
                if not p.valid and y is not None
            ]
            if crossed:
                ax.scatter([x for x, _ in crossed], [y for _, y in crossed], marker="x", s=90,
                           color="#b3261e", zorder=3)  # fmt: skip
            missing = [x for x, y in zip(xs, ys, strict=True) if y is None and isinstance(x, float)]
            style.note_missing(ax, [x for x in missing if isinstance(x, float)],
                               f"{conf.name}: n/a", row=i, color=style.color(i))  # fmt: skip
    if style.spans_decades(p99_all):
        right.set_yscale("log")
    for ax, label in ((left, "peak RSS, server (MiB)"), (right, "status p99 (ms)")):
        ax.set_xlabel(c.sweep.param)
        ax.set_ylabel(label + (", log scale" if ax.get_yscale() == "log" else ""))
        ax.grid(alpha=0.3)
    style.legend_outside(right)
    return fig
