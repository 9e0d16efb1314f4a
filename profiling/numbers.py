"""Every figure memdiag prints, as text: one home for number formatting. Pure.

Two styles, one implementation of each unit's rules:

- the report's: three significant digits (never fewer integer digits: "2,413 MiB", not
  "2.41e3"), MiB throughout, folds as "1.2x less" (`sig3`, `bytes_text`, `unit_text`,
  `fold_text`): report.md, report.html and the verdict lines;
- fixed decimals (`bytes_fixed`, `fixed_text`): "420.1 MiB", "12.50 ms", the gate's
  checks, the claims' effects and `memdiag diff`'s table, where a column of figures
  lines up by its decimal point.

And the plain figures the verdict's reasons quote: counts ("3,000 segments",
`grouped`), shares and changes ("5%", "+14 %": `whole_pct`, `signed_pct`), p-values and
rates to a few significant digits (`significant`), and numbers as configured (limits,
durations: `plain`).

Not a stage of the data flow: `verdict/` (whose gate checks and claims are text) and
`report/` both format through here, so neither reaches into the other for a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable

KIB = 1024
MIB = 1024 * 1024


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


def fixed(value: float, decimals: int = 1) -> str:
    """A fixed number of decimals: 14.04 -> "14.0"; (0.0312, 3) -> "0.031"."""
    return f"{value:.{decimals}f}"


def grouped(value: float, decimals: int = 0) -> str:
    """Thousands grouped, fixed decimals: a count ("3,000") or a mean of one ("2.5")."""
    return f"{value:,.{decimals}f}"


def significant(value: float, digits: int) -> str:
    """`digits` significant digits, trailing zeros dropped: (0.02857, 2) -> "0.029",
    (20.0, 4) -> "20"."""
    return f"{value:,.{digits}g}"


def plain(value: float) -> str:
    """A number as it was given (a limit, a duration, a rate from the configuration):
    5.0 -> "5", 0.5 -> "0.5"."""
    return f"{value:g}"


def bytes_text(value: float) -> str:
    """MiB from 1 MiB up (never MB), KiB below it, B below that; three significant digits."""
    return _bytes(value, sig3)


def bytes_fixed(value: float) -> str:
    """The same units with one decimal: "420.1 MiB", "3.0 KiB", "512 B"."""
    return _bytes(value, fixed)


def _bytes(value: float, number: Callable[[float], str]) -> str:
    if abs(value) >= MIB:
        return f"{number(value / MIB)} MiB"
    if abs(value) >= KIB:
        return f"{number(value / KIB)} KiB"
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
    return signed_pct((after / before - 1) * 100)


def signed_fixed(value: float, decimals: int = 1) -> str:
    """Fixed decimals with the sign always shown: 1.3 -> "+1.3", (-0.5, 2) -> "-0.50"."""
    return f"{value:+.{decimals}f}"


def signed_pct(pct: float, decimals: int = 0) -> str:
    """A change already in percent, with its sign: 288.4 -> "+288 %", (-14.04, 1) ->
    "-14.0 %"."""
    return f"{signed_fixed(pct, decimals)} %"


def whole_pct(fraction: float) -> str:
    """A share as a whole percent, no space (a tolerance, an interval's level): 0.05 ->
    "5%", 0.9 -> "90%"."""
    return f"{fraction:.0%}"


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


def ratio_text(ratio: float, decimals: int = 2) -> str:
    """A plain ratio, two decimals: "0.81x" (three: "0.812x")."""
    return f"{ratio:.{decimals}f}x"


def unit_text(unit: str, value: float | None) -> str:
    """A value in its unit, in the report's style; "n/a" when it was not measured.
    Units as `profiling.verdict.compare.Metric` names them ("bytes" is shown in MiB)."""
    if value is None:
        return "n/a"
    if unit == "bytes":
        return bytes_text(value)
    if unit == "bytes/s":
        return bytes_text(value) + "/s"
    if unit == "requests":
        return sig3(value) if value != int(value) else f"{value:,.0f}"
    if unit == "ratio":
        return percent_text(value)
    if unit == "ms":
        return ms_text(value)
    return f"{sig3(value)} {unit}".rstrip()


def fixed_text(unit: str, value: float | None) -> str:
    """A value in its unit with fixed decimals ("420.1 MiB", "12.50 ms", "1.25 %")."""
    if value is None:
        return "n/a"
    if unit == "bytes":
        return bytes_fixed(value)
    if unit == "bytes/s":
        return bytes_fixed(value) + "/s"
    if unit == "requests":
        return f"{value:.1f}" if value != int(value) else f"{value:.0f}"
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    if unit == "ms":
        return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"
    return f"{value:.2f} {unit}".rstrip()


def signed(text: Callable[[float], str], value: float) -> str:
    """A difference: `text` of its size with its sign ("+1.30 MiB/min", "-12.0 ms")."""
    return ("+" if value >= 0 else "-") + text(abs(value))
