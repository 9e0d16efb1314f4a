"""Statistics for verdicts: medians, the Mann-Whitney U test, and the verdict per metric.

A comparison of two configurations says "1.8x less" only when three things agree: the
ratio of medians, an effect floor (a difference smaller than e.g. 5 % *and* 5 MiB is
noise whatever a test says), and a two-sided Mann-Whitney U test over the repeats
(p < alpha). With too few repeats the test cannot reach alpha at all (two runs per
side can never give p < 0.33): if the runs of the two sides are completely separated
the verdict says "inconclusive (n=2, need 4)" (more repeats could decide); if they
overlap, the difference is inside the run-to-run spread: "no significant change".

The U test is implemented here, without scipy: the exact null distribution for small
samples (a counting recurrence when there are no ties, full enumeration of the
rank assignments when there are), else the normal approximation with tie correction
and continuity correction.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from profiling.numbers import fold_text, signed_fixed

DEFAULT_ALPHA = 0.05
# Exact p-values up to this many rank assignments (C(n1+n2, n1)); beyond it the normal
# approximation is within a percent and enumeration would cost seconds.
_MAX_ENUMERATION = 20_000
_MAX_EXACT_NO_TIES = 50


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


@dataclass(frozen=True, slots=True)
class MannWhitney:
    """U statistic of the first sample and its two-sided p-value."""

    u: float
    p_value: float
    method: str  # "exact" or "normal"


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test of x against y (needs at least one value each)."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs at least one value in each sample")
    u = _u_statistic(x, y)
    mean_u = n1 * n2 / 2.0
    has_ties = len(set(x) | set(y)) < n1 + n2
    if not has_ties and max(n1, n2) <= _MAX_EXACT_NO_TIES:
        return MannWhitney(u, _exact_p_no_ties(u, n1, n2), "exact")
    if math.comb(n1 + n2, n1) <= _MAX_ENUMERATION:
        return MannWhitney(u, _exact_p_enumerated(x, y, u, mean_u), "exact")
    return MannWhitney(u, _normal_p(x, y, u, mean_u), "normal")


def _u_statistic(x: Sequence[float], y: Sequence[float]) -> float:
    u = 0.0
    for a in x:
        for b in y:
            if a > b:
                u += 1.0
            elif a == b:
                u += 0.5
    return u


def u_distribution(n1: int, n2: int) -> list[int]:
    """Counts of U = 0..n1*n2 over all C(n1+n2, n1) orderings without ties.

    They are the coefficients of the Gaussian binomial [n1+n2 choose n2]_q, built as the
    product over i = 1..n2 of (1 - q^(n1+i)) / (1 - q^i); every partial product is itself
    a polynomial, so each division is exact (a running sum with stride i).
    """
    size = n1 * n2 + 1
    coeffs = [0] * size
    coeffs[0] = 1
    for i in range(1, n2 + 1):
        shift = n1 + i
        for k in range(size - 1, shift - 1, -1):
            coeffs[k] -= coeffs[k - shift]
        for k in range(i, size):
            coeffs[k] += coeffs[k - i]
    return coeffs


def _exact_p_no_ties(u: float, n1: int, n2: int) -> float:
    counts = u_distribution(n1, n2)
    total = math.comb(n1 + n2, n1)
    k = round(u)
    lower = sum(counts[: k + 1])
    upper = sum(counts[k:])
    return min(1.0, 2.0 * min(lower, upper) / total)


def _exact_p_enumerated(x: Sequence[float], y: Sequence[float], u: float, mean_u: float) -> float:
    """Permutation distribution of U over every split of the pooled values (handles ties)."""
    pooled = [*x, *y]
    n1 = len(x)
    observed = abs(u - mean_u)
    extreme = 0
    total = 0
    indices = range(len(pooled))
    for chosen in itertools.combinations(indices, n1):
        picked = set(chosen)
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in indices if i not in picked]
        total += 1
        # Two-sided: as far from the mean as observed, with a tolerance for the .5 steps.
        if abs(_u_statistic(first, second) - mean_u) >= observed - 1e-9:
            extreme += 1
    return min(1.0, extreme / total)


def _normal_p(x: Sequence[float], y: Sequence[float], u: float, mean_u: float) -> float:
    n1, n2 = len(x), len(y)
    n = n1 + n2
    counts: dict[float, int] = {}
    for v in (*x, *y):
        counts[v] = counts.get(v, 0) + 1
    tie_term = sum(t**3 - t for t in counts.values())
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0  # every value equal: no evidence of any difference
    z = (abs(u - mean_u) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))


def min_p_value(n1: int, n2: int) -> float:
    """Smallest two-sided p-value any data can give with these sample sizes."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def repeats_needed(alpha: float = DEFAULT_ALPHA) -> int:
    """Repeats per side (equal sizes) before the U test can reach alpha at all."""
    n = 1
    while min_p_value(n, n) > alpha:
        n += 1
    return n


@dataclass(frozen=True, slots=True)
class EffectFloor:
    """A difference counts only if it exceeds both floors (either may be 0 to disable)."""

    relative: float = 0.05
    absolute: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """One metric, one pair: `candidate` compared with `baseline` (lower is better)."""

    metric: str
    baseline: str
    candidate: str
    baseline_median: float | None
    candidate_median: float | None
    ratio: float | None  # candidate / baseline; None when the baseline is 0 or missing
    effect: float | None  # candidate - baseline, in the metric's unit
    p_value: float | None
    n_baseline: int
    n_candidate: int
    outcome: str  # "better", "worse", "same", "inconclusive", "missing"
    label: str

    @property
    def significant(self) -> bool:
        return self.outcome in ("better", "worse")


def verdict(
    metric: str,
    baseline: str,
    candidate: str,
    baseline_values: Sequence[float],
    candidate_values: Sequence[float],
    floor: EffectFloor,
    *,
    alpha: float = DEFAULT_ALPHA,
    difference_unit: str | None = None,
) -> Verdict:
    """The verdict for one metric: ratio, effect, p-value when computable, and a label.

    A metric that can be zero or negative (growth in MiB/min) has no meaningful ratio:
    give `difference_unit` and a significant change is labelled "+2.30 MiB/min".
    """
    n1, n2 = len(baseline_values), len(candidate_values)
    if n1 == 0 or n2 == 0:
        return Verdict(
            metric, baseline, candidate, None, None, None, None, None, n1, n2, "missing", "no data"
        )
    base = median(baseline_values)
    cand = median(candidate_values)
    effect = cand - base
    ratio = cand / base if base != 0 else None
    # One run per side gives p = 1 whatever the data: not a p-value worth printing.
    p_value = (
        mann_whitney_u(candidate_values, baseline_values).p_value if min(n1, n2) >= 2 else None
    )
    relative = abs(effect) / abs(base) if base != 0 else math.inf if effect else 0.0
    if abs(effect) <= floor.absolute or relative <= floor.relative:
        outcome, label = "same", "no significant change"
    elif min_p_value(n1, n2) > alpha and (p_value is None or p_value <= min_p_value(n1, n2)):
        # Too few runs for the test to ever reach alpha, and the runs are as far apart as
        # they can be: more repeats could decide it. (Runs that overlap already show the
        # difference is inside the spread: "no significant change" below.)
        need = repeats_needed(alpha)
        outcome, label = "inconclusive", f"inconclusive (n={min(n1, n2)}, need {need})"
    elif p_value is not None and p_value < alpha:
        outcome = "better" if effect < 0 else "worse"
        if difference_unit is not None or base < 0 or cand < 0:
            label = f"{signed_fixed(effect, 2)} {difference_unit or ''}".rstrip()
        else:
            label = fold_text(base, cand)
    else:
        outcome, label = "same", "no significant change"
    return Verdict(
        metric, baseline, candidate, base, cand, ratio, effect, p_value, n1, n2, outcome, label
    )
