"""The claims plot for the ablation's HTML report: measured saving against the claim.

One horizontal bar per claim (its own metric): the measured saving in percent of the
configuration without the change, with its range over the paired repeats as an error
bar, and the claimed saving as a shaded band (a tick where the report gives one
figure, nothing where it gives none). Built like `profiling.report.plots`, without pyplot.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from profiling.report.plots import Plot, _figure, _png
from profiling.verdict.claims import Ablation

_CLIP = 100.0  # no saving exceeds the whole metric
_VERDICT_COLORS = {
    "confirmed": "#2ca02c",
    "smaller than claimed": "#ff7f0e",
    "no measurable effect": "#7f7f7f",
    "the opposite": "#d62728",
    "inconclusive": "#bcbd22",
    "a cost": "#d62728",
    "not measurable in this phase": "#c7c7c7",
}


def claims(a: Ablation) -> Plot | None:
    fig = claims_figure(a)
    if fig is None:
        return None
    return Plot(
        "The fix report's claims: measured saving against the claimed one",
        "bars: median saving on the claim's own metric, whiskers: range over the paired "
        "repeats; blue band or tick: the saving the report expected (an arrow: more than "
        "the whole metric, so no measured bar can reach it)",
        _png(fig),
    )


def claims_figure(a: Ablation) -> Figure | None:
    """The figure itself (tests read what it draws)."""
    rows = [r for r in a.claims if r.primary and r.saving is not None]
    if not rows:
        return None
    fig, (ax,) = _figure(width=10.0, height=0.55 * len(rows) + 1.4)
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows, strict=True):
        saving = (r.saving or 0.0) * 100
        color = _VERDICT_COLORS.get(r.verdict, "#1f77b4")
        ax.barh(y, saving, height=0.55, color=color, alpha=0.85)
        if r.saving_low is not None and r.saving_high is not None:
            lo, hi = r.saving_low * 100, r.saving_high * 100
            # The range over the paired repeats, drawn on its own: the median of each side
            # can lie outside it (a repeat unpaired, or left out as invalid), so it is not an
            # error bar around the median (that raised on a partial ablation).
            ax.plot([lo, hi], [y, y], color="#222", linewidth=1)
            ax.plot([lo, hi], [y, y], linestyle="none", marker="|", markersize=8, color="#222")
        if r.claimed_low is not None and r.claimed_low * 100 > _CLIP:
            # An absolute claim can exceed the metric's whole value (5-50 MB per poll of
            # a 1 MiB task): a tick at 100 % would sit on a bar that saved everything and
            # read as met. An arrow past the axis says the claim lies beyond it.
            ax.plot([_CLIP + 1.5], [y], marker=">", markersize=9, color="#1f77b4")
        elif r.claimed_low is not None:
            lo = min(r.claimed_low * 100, _CLIP)
            hi = min((r.claimed_high if r.claimed_high is not None else r.claimed_low) * 100, _CLIP)
            if hi > lo:
                ax.fill_betweenx([y - 0.4, y + 0.4], lo, hi, color="#1f77b4", alpha=0.25)
            ax.plot([lo, lo], [y - 0.4, y + 0.4], color="#1f77b4", linewidth=2)
        beyond = r.claimed_low is not None and r.claimed_low * 100 > _CLIP
        # Beside the axes, not inside them: the labels never cross the frame or a bar.
        ax.annotate(f"claimed {r.expected}" + (" (more than the whole metric)" if beyond else ""),
                    (1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8,
                    color="#1f4e79", annotation_clip=False)  # fmt: skip
    lowest = min((min(r.saving or 0.0, r.saving_low or 0.0) * 100 for r in rows), default=0.0)
    left = min(-10.0, lowest - 10.0)
    ax.set_xlim(left, _CLIP + 8)
    ax.set_xticks([t for t in range(-100, 101, 25) if t >= left])
    ax.axvline(0, color="#444", linewidth=0.8)
    ax.set_yticks(ys, [f"{r.change}: {r.key} ({r.verdict})" for r in rows])
    ax.set_xlabel("saving with the change, % of the metric without it (blue: claimed)")
    ax.set_ylabel("change: switch (verdict)")
    ax.grid(axis="x", alpha=0.3)
    return fig
