"""Effect sizes with confidence intervals, and what a number of repeats can detect (pure).

A p-value says whether two configurations differ; a reviewer also needs by how much, and
how sure. Here: the Hodges-Lehmann estimate (the median of every pairwise difference
candidate - baseline) with its distribution-free confidence interval, read off the same
exact Mann-Whitney U distribution the verdicts use (Lehmann's method: the k-th smallest
and k-th largest pairwise difference, k from the U distribution's alpha/2 tail). For
metrics whose ratio means something the differences are taken on logarithms, so the
interval reads as a fold ("5.5x - 6.1x less").

With n repeats per side the exact test cannot give a p-value below 2 / C(2n, n) (0.029 at
n = 4): every clearly separated pair of configurations then shows the same p. That floor,
the confidence the interval actually has (97.1 % at 4 vs 4, not the 95 % asked), and
the number of tests in a report (a family-wise note, Holm's correction) are stated here
once, so a report states them once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from profiling.numbers import fixed, plain, significant
from profiling.verdict.stats import DEFAULT_ALPHA, min_p_value, repeats_needed, u_distribution


@dataclass(frozen=True, slots=True)
class Interval:
    """An effect with its confidence interval, both in the metric's unit, or as ratios
    candidate / baseline when `ratio` is set."""

    estimate: float
    low: float
    high: float
    confidence: float  # what the interval achieves (0.971 at 4 vs 4), not what was asked
    ratio: bool


def _lehmann_rank(n1: int, n2: int, alpha: float) -> int | None:
    """k such that [d_(k), d_(n1*n2+1-k)] covers the shift with confidence >= 1 - alpha;
    None when even the full range of differences falls short (too few repeats)."""
    counts = u_distribution(n1, n2)
    total = math.comb(n1 + n2, n1)
    k, tail = 0, 0
    # The largest k with P(U <= k - 1) <= alpha / 2.
    while k < len(counts) and (tail + counts[k]) / total <= alpha / 2:
        tail += counts[k]
        k += 1
    return k if k >= 1 else None


def shift_interval(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    ratio: bool,
    alpha: float = DEFAULT_ALPHA,
) -> Interval | None:
    """The Hodges-Lehmann shift candidate - baseline and its 1 - alpha interval; on
    logarithms (read back as ratios) when `ratio`. None with too few repeats, or with a
    value <= 0 where a ratio is asked."""
    if not baseline or not candidate:
        return None
    if ratio and min(*baseline, *candidate) <= 0:
        return None
    n1, n2 = len(baseline), len(candidate)
    k = _lehmann_rank(n1, n2, alpha)
    if k is None:
        return None

    def scale(v: float) -> float:
        return math.log(v) if ratio else v

    diffs = sorted(scale(c) - scale(b) for b in baseline for c in candidate)
    mid = len(diffs) // 2
    estimate = diffs[mid] if len(diffs) % 2 else (diffs[mid - 1] + diffs[mid]) / 2
    low, high = diffs[k - 1], diffs[len(diffs) - k]
    counts = u_distribution(n1, n2)
    confidence = 1.0 - 2.0 * sum(counts[:k]) / math.comb(n1 + n2, n1)

    def back(v: float) -> float:
        return math.exp(v) if ratio else v

    return Interval(back(estimate), back(low), back(high), confidence, ratio)


def p_floor_note(n: int, alpha: float = DEFAULT_ALPHA) -> str:
    """'With 4 runs per side the smallest p the exact test can give is 0.029: ...'"""
    floor = min_p_value(n, n)
    if floor > alpha:
        return (
            f"With {n} run(s) per configuration the exact U test cannot give p below "
            f"{significant(floor, 2)}, so no change can be called significant at p < "
            f"{plain(alpha)}; "
            f"{repeats_needed(alpha)} runs per configuration can (--repeat "
            f"{repeats_needed(alpha)})."
        )
    return (
        f"With {n} runs per configuration the smallest p the exact U test can give is "
        f"{significant(floor, 2)}: every change whose runs do not overlap shows it, so p "
        "ranks nothing beyond that; the effect and its interval say how large."
    )


def detectable_note(n: int, relative_floor: float, spread: float | None) -> str:
    """What change these repeats could detect: the effect floor, or the spread of the
    runs (twice the widest relative range seen among the configurations), whichever is
    larger: a change smaller than the runs' own spread can overlap even when real."""
    floor_pct = relative_floor * 100
    if spread is None or n < 2:
        return (
            f"With {n} run(s) per configuration there is no spread to judge by; a change "
            f"counts only above its effect floor ({plain(floor_pct)} % for peak RSS)."
        )
    detect = max(relative_floor, spread) * 100
    return (
        f"With {n} runs per configuration these repeats detect a change of peak RSS of "
        f"about {fixed(detect, 0)} % or more (the larger of the {plain(floor_pct)} % effect "
        f"floor and the runs' own spread, {fixed(spread * 100, 0)} %); a smaller one may be "
        "real and unseen."
    )


def holm(p_values: Sequence[float], alpha: float = DEFAULT_ALPHA) -> list[bool]:
    """Holm's step-down correction: which of the p-values stay significant when all of
    them are taken together (family-wise error rate alpha)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    keep = [False] * len(p_values)
    m = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (m - rank):
            break
        keep[i] = True
    return keep
