"""What a claim's verdict must not hide (pure): the costs its row shows, why "no measurable
effect", a range too wide to call, a phase too short for a leak, and invalid repeats.

Read from the reference ablation, a verdict word alone misled: two server processes "the
opposite (1.2x less)" while half the storm's replies were stale; change 7 "smaller than
claimed" while the list request's p99 rose 288 %, shown only under context metrics;
"no measurable effect" beside p = 0.029 (the effect floor that decided it never stated);
a saving of -34 % to +39 % over the repeats called "no measurable effect" rather than
undecided; "no long-run leak" judged on a 10 s phase. These functions give the claims
table the words for each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from profiling.numbers import plain, significant
from profiling.verdict.compare import METRICS_BY_KEY, Comparison, Metric

# A growth slope over less than this says nothing about a long-run leak (the fix report's
# orphan sweep runs every 10 minutes; even at the ablation's 5 s it needs several passes
# and a slope over a minute of samples).
MIN_GROWTH_PHASE_S = 60.0
GROWTH = "rss_growth_mib_per_min"
# Context metrics that are a cost whenever the change raises them, significant or not:
# a reply that is wrong or failed is never a saving.
HARM = ("error_rate", "stale_replies_per_poll")


def below_floor(m: Metric, before: float, after: float) -> bool:
    """The difference is inside the metric's effect floor (stats.verdict's own rule)."""
    effect = after - before
    relative = abs(effect) / abs(before) if before else (float("inf") if effect else 0.0)
    return abs(effect) <= m.floor.absolute or relative <= m.floor.relative


def floor_text(m: Metric) -> str:
    """'5 % and 5.0 MiB': both parts of the floor a difference must clear."""
    parts = []
    if m.floor.relative:
        parts.append(f"{plain(m.floor.relative * 100)} %")
    if m.floor.absolute:
        parts.append(m.format(m.floor.absolute))
    return " and ".join(parts) or "none"


def no_effect_reason(
    m: Metric, before: float | None, after: float | None, p_value: float | None
) -> str:
    """Why a difference does not count: the floor (stated), or the spread (with its p)."""
    if before is not None and after is not None and below_floor(m, before, after):
        return f"below the effect floor of {floor_text(m)}, whatever p says"
    p = "" if p_value is None else f", p = {significant(p_value, 2)}"
    return f"inside the run-to-run spread{p}"


def too_wide(m: Metric, low: float | None, high: float | None) -> bool:
    """The savings over the paired repeats point both ways, each beyond the relative
    floor: the repeats disagree on the direction, so no verdict can be read off them."""
    if low is None or high is None:
        return False
    floor = max(m.floor.relative, 0.05)
    return low < -floor and high > floor


def phase_too_short(metric: str, duration_s: float) -> bool:
    return metric == GROWTH and duration_s < MIN_GROWTH_PHASE_S


def harms(title: str, key: str, before: float | None, after: float | None, m: Metric) -> str | None:
    """'Stale status replies 0 % -> 50 %' when the change raised an error or stale share
    beyond its floor."""
    if key not in HARM or before is None or after is None or after <= before:
        return None
    if below_floor(m, before, after):
        return None
    return f"{title} {m.format(before)} -> {m.format(after)}"


def repeats_text(repeats: Sequence[int]) -> str:
    """'runs 1, 2, 4'."""
    if not repeats:
        return ""
    return ("run " if len(repeats) == 1 else "runs ") + ", ".join(map(str, sorted(repeats)))


# Figures every scenario measures whose rise is a cost whatever a claim is about.
COST_METRICS = ("peak_rss_bytes", "server_cpu_percent", "status_p99_ms", "error_rate")


def unlisted_costs(
    comparison: Comparison,
    listed: Sequence[str],
    without: str,
    with_: str,
    *,
    title: Callable[[Metric], str],
) -> list[tuple[str, str]]:
    """(metric, 'Server CPU 1.13 % -> 7.78 %') for each of the scenario's own figures the
    claim does not list that got significantly worse with the change (change 7's CPU)."""
    out = []
    for key in COST_METRICS:
        if key in listed:
            continue
        v = comparison.pair_verdict(key, without, with_)
        if v.outcome == "worse" and v.baseline_median is not None:
            m = METRICS_BY_KEY[key]
            text = f"{title(m)} {m.format(v.baseline_median)} -> {m.format(v.candidate_median)}"
            out.append((key, text))
    return out
