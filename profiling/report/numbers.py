"""A metric's figures in the report's style: "1.2x less", "eliminated", "2,413 MiB". Pure.

Reports used to mix "0.81x", "1.2x less?", "-28.08 MiB/min" and "1744.89 ms" in one page;
a reader compares figures faster when each kind of figure always reads the same way.
The rules for each unit live in `profiling.numbers` (the verdict's gate and claims
format through it too); here a `Metric` picks them.
"""

from __future__ import annotations

from functools import partial

from profiling.numbers import fold_text, signed, unit_text
from profiling.verdict.compare import Metric


def metric_text(m: Metric, value: float | None) -> str:
    """A metric's value in the report's style; "n/a" when it was not measured."""
    return unit_text(m.unit, value)


def metric_delta(m: Metric, value: float) -> str:
    """A difference in the metric's unit: "+1.30 MiB/min", "-12.0 ms"."""
    return signed(partial(unit_text, m.unit), value)


def metric_change(m: Metric, before: float | None, after: float | None) -> str:
    """How a figure moved: a fold ("1.2x less") where a ratio means something, else the
    difference in the metric's unit ("-28.1 MiB/min")."""
    if before is None or after is None:
        return "n/a"
    if m.difference_unit is not None or before < 0 or after < 0:
        return metric_delta(m, after - before)
    return fold_text(before, after)
