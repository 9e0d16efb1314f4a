"""One number style for every report: "1.2x less", "eliminated", three significant digits
(never fewer integer digits: "2,413 MiB", not "2.41e3"), MiB throughout.

Reports used to mix "0.81x", "1.2x less?", "-28.08 MiB/min" and "1744.89 ms" in one page;
a reader compares figures faster when each kind of figure always reads the same way.
The verdict package keeps its own formatting for the terminal until the two are folded
together; everything a report renders goes through here. Pure.
"""

from __future__ import annotations

import math

from profiling.verdict.compare import Metric

MIB = 1024 * 1024
KIB = 1024


def sig3(value: float) -> str:
    """Three significant digits, or the whole integer part when it has more:
    2412.6 -> "2,413", 129.74 -> "130", 13.96 -> "14.0", 6.284 -> "6.28", 0.0123 -> "0.0123"."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    decimals = 2 - math.floor(math.log10(magnitude))
    text = f"{value:.{decimals}f}"
    # Rounding can carry into another digit (99.96 -> "100.0"): show it as an integer.
    if abs(float(text)) >= 100:
        return f"{float(text):,.0f}"
    return text


def bytes_text(value: float) -> str:
    """MiB from 1 MiB up (never MB), KiB below it, B below that."""
    if abs(value) >= MIB:
        return f"{sig3(value / MIB)} MiB"
    if abs(value) >= KIB:
        return f"{sig3(value / KIB)} KiB"
    return f"{value:.0f} B"


def ms_text(value: float) -> str:
    return f"{sig3(value)} ms"


def percent_text(fraction: float) -> str:
    """A share (0.0123 -> "1.23 %")."""
    return f"{sig3(fraction * 100)} %"


def change_pct(before: float, after: float) -> str:
    """ "+288 %", "-14 %"; "n/a" from zero."""
    if before == 0:
        return "n/a"
    return f"{(after / before - 1) * 100:+.0f} %"


def fold_text(before: float, after: float) -> str:
    """ "1.2x less", "2.1x more", "eliminated", "equal", "new (was 0)": how `after` stands
    to `before`, the larger over the smaller, in three significant digits at most."""
    if after == before:
        return "equal"
    if after == 0:
        return "eliminated"
    if before == 0:
        return "new (was 0)"
    if (before < 0) != (after < 0):
        return "changed sign"
    factor = abs(before / after) if abs(after) < abs(before) else abs(after / before)
    text = f"{factor:.1f}" if factor < 10 else sig3(factor)
    return f"{text}x {'less' if abs(after) < abs(before) else 'more'}"


def metric_text(m: Metric, value: float | None) -> str:
    """A metric's value in the report's style; "n/a" when it was not measured."""
    if value is None:
        return "n/a"
    if m.unit == "bytes":
        return bytes_text(value)
    if m.unit == "bytes/s":
        return bytes_text(value) + "/s"
    if m.unit == "requests":
        return sig3(value) if value != int(value) else f"{value:,.0f}"
    if m.unit == "ratio":
        return percent_text(value)
    if m.unit == "ms":
        return ms_text(value)
    return f"{sig3(value)} {m.unit}".rstrip()


def metric_delta(m: Metric, value: float) -> str:
    """A difference in the metric's unit: "+1.30 MiB/min", "-12.0 ms"."""
    return ("+" if value >= 0 else "-") + metric_text(m, abs(value))


def metric_change(m: Metric, before: float | None, after: float | None) -> str:
    """How a figure moved: a fold ("1.2x less") where a ratio means something, else the
    difference in the metric's unit ("-28.1 MiB/min")."""
    if before is None or after is None:
        return "n/a"
    if m.difference_unit is not None or before < 0 or after < 0:
        return metric_delta(m, after - before)
    return fold_text(before, after)
