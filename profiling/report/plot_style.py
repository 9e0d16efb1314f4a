"""How the report's plots stay readable from 2 to 20 configurations, and honest about
what was not measured (pure helpers for `profiling.report.plots`).

- One style per configuration: 20 distinct colours (tab20's pairs split so neighbours
  differ), and beyond the colours' reach a line style and a marker, so no two
  configurations look alike ("one colour per configuration" used to be false past ten).
- Legends sit outside the data, to the right, never over the steady phase.
- A value that was not measured is a gap with an "n/a" note, never a bar or point at 0.
- An invalid configuration is drawn hatched or dashed and named "(invalid)".
- Log axes where the values span more than a decade (lean's p99 beside db-polling's).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from matplotlib.axes import Axes

# tab20, darker shade of each pair first, then the lighter ones: the first ten are as far
# apart as a palette of twenty allows.
_DARK = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
         "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
_LIGHT = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
          "#c7c7c7", "#dbdb8d", "#9edae5")  # fmt: skip
COLORS = _DARK + _LIGHT
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# Past this many configurations one panel per configuration (small multiples) beats one
# panel of overlaid lines.
MAX_OVERLAID = 4
INVALID_HATCH = "//"


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def linestyle(i: int) -> str:
    return LINESTYLES[(i // len(_DARK)) % len(LINESTYLES)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def label(name: str, invalid: bool) -> str:
    return f"{name} (invalid)" if invalid else name


def wrap(name: str, width: int = 30) -> str:
    """A long configuration name over lines, broken after its commas and colons, so
    neighbouring panel titles and tick labels do not overprint."""
    lines, line = [], ""
    for part in re.split(r"(?<=[,:@])", name):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    return "\n".join([*lines, line])


def legend_outside(ax: Axes) -> None:
    """The legend to the right of the axes, outside the data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def spans_decades(values: Sequence[float | None], decades: float = 1.0) -> bool:
    """Positive values more than `decades` powers of ten apart: a linear axis would
    flatten the small ones."""
    positive = [v for v in values if v is not None and v > 0]
    return len(positive) > 1 and math.log10(max(positive) / min(positive)) > decades


def note_missing(
    ax: Axes, xs: Sequence[float], what: str = "not measured", row: int = 0, color: str = "#b3261e"
) -> None:
    """Mark x positions that have no value: a note on the axis, not a bar or point at 0.
    `row` stacks the notes of several configurations at one x."""
    for x in xs:
        ax.annotate(
            what,
            (x, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4 + 12 * row),
            textcoords="offset points",
            ha="center",
            fontsize="small",
            color=color,
        )


def bars(
    ax: Axes,
    names: Sequence[str],
    groups: Sequence[tuple[str, Sequence[float | None]]],
    invalid: Sequence[bool],
) -> None:
    """Grouped bars; None is a gap marked n/a, an invalid configuration's bars hatched."""
    width = 0.8 / max(len(groups), 1)
    missing: list[float] = []
    for g, (group_label, values) in enumerate(groups):
        for i, value in enumerate(values):
            x = i + (g - (len(groups) - 1) / 2) * width
            if value is None:
                missing.append(x)
                continue
            ax.bar(
                x,
                value,
                width=width,
                color=color(g),
                hatch=INVALID_HATCH if invalid[i] else None,
                edgecolor="#b3261e" if invalid[i] else None,
                label=group_label if i == 0 or all(v is None for v in values[:i]) else None,
            )
    ticks = [wrap(label(n, bad), 24) for n, bad in zip(names, invalid, strict=True)]
    ax.set_xticks(range(len(names)), ticks, fontsize="small" if len(names) > 3 else None)
    if len(names) > 3:
        # Long configuration names overprint each other side by side.
        ax.tick_params(axis="x", labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    ax.set_xlim(-0.6, len(names) - 0.4)  # the missing ones keep their place
    ax.grid(axis="y", alpha=0.3)
    note_missing(ax, missing)
