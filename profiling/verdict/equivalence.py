"""The three-way verdict for two builds: regression, same, or unknown (measure more).

The significance verdict of `profiling.verdict.stats` says whether a difference is
shown; it cannot say that two builds are the *same*, since "no significant change" with
three noisy runs per side proves nothing. Here "same" has to be shown too (an
equivalence test, as Chromium's Pinpoint answers different / same / unknown):

- the ratio candidate / baseline is estimated by Hodges-Lehmann (the median of all
  pairwise ratios), with its distribution-free confidence interval from the
  Mann-Whitney null distribution (Moses' interval over the pairwise log-ratios);
  the interval has confidence 1 - 2 alpha, the two one-sided tests of TOST;
- **same**: the whole interval lies inside [1 - tolerance, 1 + tolerance];
- **regression**: the whole interval lies above 1 (worse, shown at alpha) and the
  estimate exceeds 1 + tolerance (worse by more than the tolerance);
- **improvement**: the mirror image (a bisect or `check` counts it as "not worse");
- **unknown**: anything else: too few runs, or a spread too wide to tell; more runs
  narrow the interval, so a sequential sampler keeps adding runs while it is unknown.

Pure: values in, verdict out; the metric's higher values are the worse ones.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from profiling.numbers import fixed, ratio_text, whole_pct
from profiling.verdict.stats import DEFAULT_ALPHA, mann_whitney_u, u_distribution

DEFAULT_TOLERANCE = 0.05
MIN_RUNS = 3  # with fewer per side no interval reaches 90 %: 2 vs 2 is at best 83 %
VERDICTS = ("regression", "same", "unknown", "improvement")


@dataclass(frozen=True, slots=True)
class RatioInterval:
    estimate: float  # Hodges-Lehmann estimate of candidate / baseline
    low: float
    high: float
    confidence: float  # the interval's actual coverage (>= the one asked for)


@dataclass(frozen=True, slots=True)
class ThreeWay:
    verdict: str  # one of VERDICTS
    baseline_median: float
    candidate_median: float
    n_baseline: int
    n_candidate: int
    tolerance: float
    interval: RatioInterval | None  # None: too few runs for any interval
    p_value: float  # two-sided Mann-Whitney U, for the report
    reason: str

    @property
    def decided(self) -> bool:
        return self.verdict != "unknown"

    @property
    def worse(self) -> bool:
        return self.verdict == "regression"


def parse_tolerance(text: str) -> float:
    """'5%' or '0.05' -> 0.05; ValueError for anything outside (0, 1)."""
    raw = text.strip()
    value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    if not 0.0 < value < 1.0:
        raise ValueError(f"tolerance {text!r} must be between 0 and 100 %")
    return value


def ratio_interval(
    baseline: Sequence[float], candidate: Sequence[float], alpha: float = DEFAULT_ALPHA
) -> RatioInterval | None:
    """Hodges-Lehmann ratio with its (1 - 2 alpha) interval; None if the samples are too
    small for one (every value must be > 0)."""
    if any(v <= 0 for v in (*baseline, *candidate)):
        raise ValueError("ratios need values > 0")
    n1, n2 = len(baseline), len(candidate)
    if n1 == 0 or n2 == 0:
        return None
    logs = sorted(math.log(c) - math.log(b) for b in baseline for c in candidate)
    estimate = math.exp(statistics.median(logs))
    # Moses: the k-th smallest and k-th largest pairwise difference, where k - 1 is the
    # largest U whose lower tail is within alpha (one side of the interval).
    counts = u_distribution(n1, n2)
    total = math.comb(n1 + n2, n1)
    tail, k = 0, 0
    for u, count in enumerate(counts):
        if (tail + count) / total > alpha:
            break
        tail += count
        k = u + 1
    if k == 0:
        return None
    low, high = math.exp(logs[k - 1]), math.exp(logs[len(logs) - k])
    return RatioInterval(estimate, low, high, 1.0 - 2.0 * tail / total)


def three_way(
    baseline: Sequence[float],
    candidate: Sequence[float],
    tolerance: float = DEFAULT_TOLERANCE,
    alpha: float = DEFAULT_ALPHA,
) -> ThreeWay:
    """The verdict of `candidate` against `baseline` (see the module docstring)."""
    if not baseline or not candidate:
        raise ValueError("a three-way verdict needs runs on both sides")
    b_med, c_med = statistics.median(baseline), statistics.median(candidate)
    p = mann_whitney_u(baseline, candidate).p_value
    n1, n2 = len(baseline), len(candidate)

    def result(verdict: str, interval: RatioInterval | None, reason: str) -> ThreeWay:
        return ThreeWay(verdict, b_med, c_med, n1, n2, tolerance, interval, p, reason)

    if min(n1, n2) < MIN_RUNS:
        return result("unknown", None, f"too few runs (n={n1}/{n2}; need {MIN_RUNS} each)")
    interval = ratio_interval(baseline, candidate, alpha)
    if interval is None:
        return result("unknown", None, f"too few runs for a {whole_pct(1 - 2 * alpha)} interval")
    span = (
        f"{ratio_text(interval.estimate, 3)} [{fixed(interval.low, 3)}, {fixed(interval.high, 3)}]"
    )
    lo, hi = 1.0 - tolerance, 1.0 + tolerance
    if lo <= interval.low and interval.high <= hi:
        return result("same", interval, f"{span} inside ±{whole_pct(tolerance)}")
    if interval.low > 1.0 and interval.estimate > hi:
        return result("regression", interval, f"{span}: worse by more than {whole_pct(tolerance)}")
    if interval.high < 1.0 and interval.estimate < lo:
        return result(
            "improvement", interval, f"{span}: better by more than {whole_pct(tolerance)}"
        )
    return result(
        "unknown", interval, f"{span}: neither inside ±{whole_pct(tolerance)} nor outside"
    )
