"""The note a CI owner needs beside the Results tables (pure): the smallest p the repeats
allow, stated once; how many tests the tables hold and how many survive a correction for
all of them (Holm); and what change the repeats could detect.

Without it, every significant row of a 4-vs-4 comparison shows p = 0.029 and reads as
evidence of a size it does not carry.
"""

from __future__ import annotations

from profiling.verdict.compare import METRICS_BY_KEY, Comparison
from profiling.verdict.effect import detectable_note, holm, p_floor_note


def _spread(c: Comparison, metric: str) -> float | None:
    """The widest relative range (max - min over the median) among the configurations."""
    spreads = []
    for conf in c.configurations:
        values = conf.values(metric)
        mid = conf.medians.get(metric)
        if len(values) > 1 and mid:
            spreads.append((max(values) - min(values)) / mid)
    return max(spreads) if spreads else None


def statistics_note(c: Comparison) -> str:
    if len(c.configurations) < 2:
        return ""
    n = min(len(conf.runs) for conf in c.configurations)
    tested = [v.p_value for v in c.verdicts if v.p_value is not None]
    floor = METRICS_BY_KEY["peak_rss_bytes"].floor.relative
    parts = [p_floor_note(n, c.alpha)]
    if tested:
        significant = sum(p < c.alpha for p in tested)
        kept = sum(holm(tested, c.alpha))
        parts.append(
            f"The tables hold {len(tested)} tests; {significant} have p < {c.alpha:g}, and "
            f"{kept} stay significant under Holm's correction for all {len(tested)} together."
        )
    parts.append(detectable_note(n, floor, _spread(c, "peak_rss_bytes")))
    return " ".join(parts)
