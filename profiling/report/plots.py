"""Matplotlib plots for the HTML report, each returned as a base64 PNG (pure).

Figures are built with `matplotlib.figure.Figure` and the Agg canvas directly, never
through pyplot, so rendering has no global state and works without a display.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from profiling.report import plot_style as style
from profiling.results.folder import MIB, RunResult
from profiling.verdict.compare import Comparison, ConfigResult
from profiling.verdict.stats import median

DPI = 96  # of the PNGs embedded in the HTML report
_PERCENTILES = (
    ("p50", "p50_ms"),
    ("p90", "p90_ms"),
    ("p95", "p95_ms"),
    ("p99", "p99_ms"),
    ("p99.9", "p999_ms"),
    ("max", "max_ms"),
)


@dataclass(frozen=True, slots=True)
class Plot:
    title: str
    caption: str
    png_base64: str


def _png(fig: Figure) -> str:
    """The figure as a PNG at its own size, drawn once: the constrained layout runs in that
    draw. `savefig` would draw it twice (a pass without output to lay it out first; with
    bbox_inches="tight" it also measures every artist to crop), and the layout leaves
    nothing to crop."""
    fig.set_dpi(DPI)
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf, metadata={"Software": None})  # type: ignore[no-untyped-call]
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _invalid(c: Comparison) -> list[bool]:
    bad = set(c.invalid_configurations)
    return [conf.name in bad for conf in c.configurations]


def _figure(ncols: int = 1, width: float = 10.0, height: float = 4.0) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _timeline_runs(conf: ConfigResult, process: str) -> list[tuple[list[float], list[float]]]:
    out = []
    for run in conf.runs:
        series = run.timeline.get(process)
        if series is None or not series.t_s:
            continue
        t0 = run.phases.steady_start_s if run.phases else 0.0
        out.append(([t - t0 for t in series.t_s], [b / MIB for b in series.rss_bytes]))
    return out


def rss_timeline(c: Comparison, process: str) -> Plot | None:
    """RSS over time, t=0 the steady start: every run of every configuration overlaid, or
    past `MAX_OVERLAID` configurations one small panel each (44 lines in one panel read
    as none)."""
    lines = [(i, conf, _timeline_runs(conf, process)) for i, conf in enumerate(c.configurations)]
    lines = [(i, conf, runs) for i, conf, runs in lines if runs]
    if not lines:
        return None
    invalid = _invalid(c)
    xlabel = "s since the steady phase began (warm-up before 0)"
    if len(lines) <= style.MAX_OVERLAID:
        fig, (ax,) = _figure()
        panels = [(ax, lines)]
    else:
        ncols = 4
        nrows = math.ceil(len(lines) / ncols)
        fig = Figure(figsize=(12.0, 2.4 * nrows + 0.6), layout="constrained")
        grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
        cells = [ax for row in grid for ax in row]
        for ax in cells[len(lines) :]:
            ax.set_visible(False)
        panels = [(ax, [line]) for ax, line in zip(cells, lines, strict=False)]
    for ax, shown in panels:
        for i, conf, runs in shown:
            for k, (xs, ys) in enumerate(runs):
                ax.plot(xs, ys, color=style.color(i), linestyle="--" if invalid[i] else
                        style.linestyle(i), alpha=0.85, linewidth=1.2,
                        label=style.label(conf.name, invalid[i]) if k == 0 else None)  # fmt: skip
        ax.axvline(0, color="#999", linestyle="--", linewidth=0.8)
        ax.set_xlabel(xlabel if len(panels) == 1 else "s since steady start")
        ax.set_ylabel("RSS (MiB)")
        ax.grid(alpha=0.3)
        if len(panels) == 1:
            style.legend_outside(ax)
        else:
            title = style.label(shown[0][1].name, invalid[shown[0][0]])
            ax.set_title(style.wrap(title), fontsize="x-small")
    return Plot(
        f"RSS over time ({process} process)",
        "every run, one colour and line style per configuration"
        + ("" if len(panels) == 1 else ", one panel per configuration"),
        _png(fig),
    )


def _median_of(
    runs: tuple[RunResult, ...], get: Callable[[RunResult], float | None]
) -> float | None:
    """The median of what the runs measured; None (drawn as a gap) when none did."""
    values = [v for r in runs if (v := get(r)) is not None]
    return median(values) if values else None


def peaks(c: Comparison) -> Plot | None:
    """Kernel peak vs sampled peak vs heap peak (server), and the DB's kernel peak."""
    names = [conf.name for conf in c.configurations]

    def mem(conf: ConfigResult, process: str, attr: str) -> float | None:
        def get(r: RunResult) -> float | None:
            m = r.memory.get(process)
            v = getattr(m, attr) if m is not None else None
            return None if v is None else v / MIB

        return _median_of(conf.runs, get)

    def heap(conf: ConfigResult) -> float | None:
        runs = conf.attribution or conf.runs
        return _median_of(
            runs,
            lambda r: r.heap.heap_peak_bytes / MIB if r.heap and r.heap.heap_peak_bytes else None,
        )

    groups = [
        (
            "server kernel peak (VmHWM)",
            [mem(conf, "server", "kernel_peak_bytes") for conf in c.configurations],
        ),
        (
            "server sampled peak",
            [mem(conf, "server", "sampled_peak_bytes") for conf in c.configurations],
        ),
        ("server heap peak (attribution run)", [heap(conf) for conf in c.configurations]),
        ("DB kernel peak", [mem(conf, "db", "kernel_peak_bytes") for conf in c.configurations]),
    ]
    groups = [g for g in groups if any(v is not None for v in g[1])]
    if not groups:
        return None
    fig, (ax,) = _figure()
    style.bars(ax, names, groups, _invalid(c))
    ax.set_ylabel("peak memory (MiB)")
    style.legend_outside(ax)
    return Plot(
        "Peak memory: kernel high-water mark vs sampled vs Python heap",
        "the gap between heap and RSS is what the allocator keeps",
        _png(fig),
    )


def _status_getter(attr: str) -> Callable[[RunResult], float | None]:
    def get(run: RunResult) -> float | None:
        return None if run.status is None else float(getattr(run.status, attr))

    return get


def latency(c: Comparison) -> Plot | None:
    fig, (ax,) = _figure()
    drawn = False
    invalid = _invalid(c)
    silent = []
    for i, conf in enumerate(c.configurations):
        if not any(r.status for r in conf.runs):
            silent.append(conf.name)
            continue  # no request answered: nothing to draw, and nothing drawn at 0
        ys = [_median_of(conf.runs, _status_getter(attr)) for _, attr in _PERCENTILES]
        ax.plot([p for p, _ in _PERCENTILES], [math.nan if y is None else y for y in ys],
                marker=style.marker(i), color=style.color(i),
                linestyle="--" if invalid[i] else style.linestyle(i),
                label=style.label(conf.name, invalid[i]))  # fmt: skip
        drawn = True
    if not drawn:
        return None
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())  # "6.0", not "6 x 10^0"
    ax.set_xlabel("percentile")
    ax.set_ylabel("status poll latency (ms, log scale)")
    ax.grid(alpha=0.3, which="both")
    style.legend_outside(ax)
    note = f"; not drawn, no request answered: {', '.join(silent)}" if silent else ""
    return Plot(
        "Status poll latency percentiles",
        "from the intended send time (open model)" + note,
        _png(fig),
    )


def db(c: Comparison) -> Plot | None:
    names = [conf.name for conf in c.configurations]
    commands = [conf.medians.get("db_commands_per_poll") for conf in c.configurations]
    reads = [conf.medians.get("db_reads_per_poll") for conf in c.configurations]
    kib = [
        None if (b := conf.medians.get("db_reply_bytes_per_poll")) is None else b / 1024
        for conf in c.configurations
    ]
    if all(v is None for v in commands + reads + kib):
        return None
    invalid = _invalid(c)
    fig, (left, right) = _figure(2)
    style.bars(
        left,
        names,
        [("commands per poll (all traffic)", commands), ("reads per poll (status path)", reads)],
        invalid,
    )
    style.legend_outside(left)
    left.set_ylabel("DB commands per status poll")
    style.bars(right, names, [("reply KiB per poll (status path)", kib)], invalid)
    right.set_ylabel("DB reply KiB per status poll\n(status path)")
    return Plot(
        "Database work per status poll", "steady phase, from the server's /metrics", _png(fig)
    )


def loop_lag(c: Comparison) -> Plot | None:
    names = [conf.name for conf in c.configurations]
    lag = [conf.medians.get("loop_lag_p99_ms") for conf in c.configurations]
    cpu = [conf.medians.get("server_cpu_percent") for conf in c.configurations]
    if all(v is None for v in lag + cpu):
        return None
    invalid = _invalid(c)
    fig, (left, right) = _figure(2)
    style.bars(left, names, [("event-loop lag p99", lag)], invalid)
    left.set_ylabel("event-loop lag p99 (ms)")
    if style.spans_decades(lag):
        left.set_yscale("log")
        left.set_ylabel("event-loop lag p99 (ms, log scale)")
    style.bars(right, names, [("server CPU", cpu)], invalid)
    right.set_ylabel("server CPU (% of one core)")
    return Plot(
        "Event-loop lag p99 and server CPU",
        "n/a: not measured (no bar is drawn for it); hatched: invalid runs",
        _png(fig),
    )


def rss_vs_in_flight(c: Comparison) -> Plot | None:
    """Each measured run's peak RSS against the status requests it held at once: the
    incident's mechanism (every request in flight in db-polling holds a decoded task)."""
    fig, (left, right) = _figure(2)
    drawn = False
    maxima: list[int] = []
    for i, conf in enumerate(c.configurations):
        points = [
            (r.status_in_flight, peak / MIB)
            for r in conf.runs
            if r.status_in_flight is not None
            and (m := r.memory.get("server")) is not None
            and (peak := m.kernel_peak_bytes) is not None
        ]
        if not points:
            continue
        drawn = True
        maxima += [p.max_in_flight for p, _ in points]
        for ax, values in (
            (left, [p.max_in_flight for p, _ in points]),
            (right, [p.mean_in_flight for p, _ in points]),
        ):
            ax.scatter(values, [mib for _, mib in points], color=style.color(i),
                       marker=style.marker(i), label=conf.name)  # fmt: skip
    if not drawn:
        return None
    if min(maxima) > 0:
        left.set_xscale("log", base=2)  # the bucket bounds are powers of two
        left.xaxis.set_major_formatter(ScalarFormatter())
    for ax, label in (
        # Two lines: a panel narrowed by a long legend is narrower than one line of it.
        (left, "status requests in flight,\nsteady max (bucket bound)"),
        (right, "status requests in flight,\nsteady mean"),
    ):
        ax.set_xlabel(label)
        ax.set_ylabel("peak RSS, server (MiB)")
        ax.grid(alpha=0.3)
    style.legend_outside(right)
    return Plot(
        "Peak RSS against status requests in flight",
        "one point per measured run; requests in flight hold what they decoded",
        _png(fig),
    )


_PARTS = (  # stacked bottom to top: what the program uses, then what allocators keep
    ("in use by objects", ("pymalloc_used_bytes", "malloc_used_bytes"), "#1f77b4"),
    ("pymalloc free", ("pymalloc_free_bytes",), "#aec7e8"),
    ("malloc free, held", ("malloc_free_bytes",), "#ff7f0e"),
    ("malloc mmapped", ("malloc_mmapped_bytes",), "#2ca02c"),
    ("file-backed", ("file_bytes",), "#7f7f7f"),
)


def rss_parts(c: Comparison) -> Plot | None:
    """What makes up the server's RSS over time, one panel per configuration (its first
    measured run with agent data); the line is RSS, the top band what no part explains."""
    shown = [
        (conf.name, run)
        for conf in c.configurations
        if (run := next((r for r in conf.runs if r.rss_parts_timeline), None)) is not None
    ]
    if not shown:
        return None
    fig = Figure(figsize=(min(5.0 * len(shown), 15.0), 3.6), layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False, sharey=True)[0]
    for ax, (name, run) in zip(axes, shown, strict=True):
        points = run.rss_parts_timeline
        t0 = run.phases.steady_start_s if run.phases else 0.0
        xs = [p.t_s - t0 for p in points]
        bands = [
            [sum(getattr(p.parts, key) for key in keys) / MIB for p in points]
            for _, keys, _ in _PARTS
        ]
        rest = [max(0, p.parts.unaccounted_bytes) / MIB for p in points]
        ax.stackplot(
            xs,
            *bands,
            rest,
            labels=[label for label, _, _ in _PARTS] + ["rest (unaccounted)"],
            colors=[color for _, _, color in _PARTS] + ["#e377c2"],
            alpha=0.85,
        )
        ax.plot(xs, [p.parts.rss_bytes / MIB for p in points], color="black", linewidth=1.0)
        ax.axvline(0, color="#999", linestyle="--", linewidth=0.8)
        # Wrapped: six panels side by side leave a long name more than its panel's width.
        ax.set_title(style.wrap(name), fontsize="small")
        ax.set_xlabel("s since steady start")
        ax.set_ylabel("MiB")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MiB (line: RSS)")
    axes[-1].legend(loc="upper left", fontsize="small")
    return Plot(
        "What makes up RSS over time (server)",
        "from the in-process agent; the first measured run of each configuration",
        _png(fig),
    )


def all_plots(c: Comparison) -> list[Plot]:
    from profiling.report import sweep_plot  # it builds on this module's helpers

    made = [
        rss_timeline(c, "server"),
        rss_parts(c),
        rss_timeline(c, "db"),
        peaks(c),
        rss_vs_in_flight(c),
        latency(c),
        db(c),
        loop_lag(c),
        sweep_plot.sweep(c),
    ]
    return [p for p in made if p is not None]
