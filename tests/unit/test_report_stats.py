"""Mann-Whitney U (checked against brute-force permutation counts) and verdict labels."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from profiling.numbers import (
    change_pct,
    fixed,
    fold_text,
    grouped,
    plain,
    ratio_text,
    signed_fixed,
    signed_pct,
    significant,
    whole_pct,
)
from profiling.verdict.stats import (
    EffectFloor,
    mann_whitney_u,
    median,
    min_p_value,
    repeats_needed,
    verdict,
)


def brute_force_p(x: list[float], y: list[float]) -> float:
    """Two-sided permutation p-value of U by listing every relabelling (independent of the
    implementation under test: it ranks nothing and counts pairs directly)."""
    pooled = x + y
    n1 = len(x)

    def u_of(a: list[float], b: list[float]) -> float:
        return sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in a for q in b)

    centre = n1 * len(y) / 2
    observed = abs(u_of(x, y) - centre)
    splits = list(itertools.combinations(range(len(pooled)), n1))
    hits = 0
    for chosen in splits:
        a = [pooled[i] for i in chosen]
        b = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        hits += abs(u_of(a, b) - centre) >= observed - 1e-9
    return hits / len(splits)


@pytest.mark.parametrize("seed", range(12))
def test_exact_p_matches_permutation_count(seed: int) -> None:
    rng = random.Random(seed)
    n1, n2 = rng.randint(1, 6), rng.randint(1, 6)
    ties = seed % 3 == 0  # every third case draws from a few values, so ties happen
    draw = (lambda: float(rng.randint(0, 3))) if ties else (lambda: rng.gauss(0, 1))
    x = [draw() for _ in range(n1)]
    y = [draw() + 0.5 for _ in range(n2)]
    result = mann_whitney_u(x, y)
    assert result.method == "exact"
    assert result.p_value == pytest.approx(brute_force_p(x, y), abs=1e-12)


def test_u_statistic_and_textbook_p() -> None:
    # Complete separation, 4 vs 4: U = 0 and the two-sided exact p is 2 / C(8, 4).
    result = mann_whitney_u([1, 2, 3, 4], [5, 6, 7, 8])
    assert result.u == 0
    assert result.p_value == pytest.approx(2 / 70)
    assert mann_whitney_u([5, 6, 7, 8], [1, 2, 3, 4]).u == 16


def test_normal_approximation_close_to_exact_for_larger_samples() -> None:
    rng = random.Random(7)
    x = [rng.gauss(0, 1) for _ in range(60)]
    y = [rng.gauss(0.4, 1) for _ in range(60)]
    big = mann_whitney_u(x, y)  # n > 50 per side and no ties -> normal approximation
    assert big.method == "normal"
    small_x, small_y = x[:40], y[:40]
    exact = mann_whitney_u(small_x, small_y)
    assert exact.method == "exact"
    # The same statistic through the approximation formula: within 1 % absolute.
    from profiling.verdict.stats import _normal_p

    approx = _normal_p(small_x, small_y, exact.u, 40 * 40 / 2)
    assert approx == pytest.approx(exact.p_value, abs=0.01)


def test_normal_approximation_with_ties_and_identical_values() -> None:
    x = [1.0] * 40 + [2.0] * 40
    y = [1.0] * 30 + [2.0] * 50
    result = mann_whitney_u(x, y)
    assert result.method == "normal"
    assert 0.0 < result.p_value < 1.0
    same = mann_whitney_u([3.0] * 30, [3.0] * 30)
    assert same.p_value == 1.0


def test_min_p_and_repeats_needed() -> None:
    assert min_p_value(2, 2) == pytest.approx(1 / 3)
    assert min_p_value(3, 3) == pytest.approx(0.1)
    assert min_p_value(4, 4) == pytest.approx(2 / 70)
    assert repeats_needed(0.05) == 4
    assert repeats_needed(0.01) == 5
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5


MIB = 1024 * 1024
RSS_FLOOR = EffectFloor(relative=0.05, absolute=5 * MIB)


def test_verdict_better_with_enough_repeats() -> None:
    base = [400 * MIB + i * MIB for i in range(4)]
    cand = [200 * MIB + i * MIB for i in range(4)]
    v = verdict("peak_rss_bytes", "db-polling", "lean", base, cand, RSS_FLOOR)
    assert v.outcome == "better"
    assert v.label == "2.0x less"
    assert v.p_value == pytest.approx(2 / 70)
    assert v.ratio == pytest.approx(201.5 / 401.5)
    worse = verdict("peak_rss_bytes", "lean", "db-polling", cand, base, RSS_FLOOR)
    assert worse.outcome == "worse"
    assert worse.label == "2.0x more"


def test_verdict_inconclusive_names_the_repeats_needed() -> None:
    v = verdict(
        "peak_rss_bytes", "a", "b", [400 * MIB, 401 * MIB], [200 * MIB, 201 * MIB], RSS_FLOOR
    )
    assert v.outcome == "inconclusive"
    assert v.label == "inconclusive (n=2, need 4)"
    single = verdict("peak_rss_bytes", "a", "b", [400 * MIB], [200 * MIB], RSS_FLOOR)
    assert single.label == "inconclusive (n=1, need 4)"
    assert single.p_value is None  # one run per side: no p-value worth printing


def test_verdict_effect_floor_beats_significance() -> None:
    # 2 MiB apart in every run: perfectly separated, yet under the 5 MiB floor.
    base = [100 * MIB + i for i in range(6)]
    cand = [102 * MIB + i for i in range(6)]
    v = verdict("peak_rss_bytes", "a", "b", base, cand, RSS_FLOOR)
    assert v.p_value is not None and v.p_value < 0.05
    assert v.outcome == "same"
    assert v.label == "no significant change"


def test_verdict_overlapping_runs_not_significant() -> None:
    base = [100.0, 130.0, 90.0, 125.0, 95.0]
    cand = [120.0, 85.0, 135.0, 100.0, 92.0]
    v = verdict("status_p99_ms", "a", "b", base, cand, EffectFloor(0.0, 0.0))
    assert v.outcome == "same"
    assert v.p_value is not None and v.p_value > 0.05


def test_difference_labels_and_missing_data() -> None:
    v = verdict(
        "rss_growth_mib_per_min",
        "a",
        "b",
        [3.0, 3.1, 3.2, 2.9],
        [0.1, 0.2, 0.0, -0.1],
        EffectFloor(0.0, 1.0),
        difference_unit="MiB/min",
    )
    assert v.label == "-3.00 MiB/min"  # medians 3.05 and 0.05
    assert verdict("x", "a", "b", [], [1.0], RSS_FLOOR).outcome == "missing"


def test_fold_text_edges() -> None:
    assert fold_text(1.0, 0.0) == "eliminated"
    assert fold_text(0.0, 2.0) == "new (was 0)"
    assert fold_text(5.0, 5.0) == "equal"
    assert fold_text(50000.0, 1.0) == "50,000x less"
    assert math.isclose(float(fold_text(3.0, 1.0).split("x")[0]), 3.0)


def test_the_verdicts_plain_figures() -> None:
    """The figures the verdict's reasons quote, each read one way wherever it appears."""
    assert grouped(3000.0) == "3,000" and grouped(2.46, 1) == "2.5"
    assert significant(0.028571, 2) == "0.029" and significant(20.0, 4) == "20"
    assert plain(5.0) == "5" and plain(0.5) == "0.5"
    assert fixed(14.04) == "14.0" and fixed(0.0312, 3) == "0.031"
    assert signed_fixed(0.5, 2) == "+0.50" and signed_fixed(-1.25, 1) == "-1.2"
    assert signed_pct(288.4) == "+288 %" and signed_pct(-14.04, 1) == "-14.0 %"
    assert change_pct(100.0, 86.0) == "-14 %" and change_pct(0.0, 1.0) == "n/a"
    assert whole_pct(0.05) == "5%" and whole_pct(0.9) == "90%"
    assert ratio_text(0.8125) == "0.81x" and ratio_text(0.8125, 3) == "0.812x"


def test_few_overlapping_runs_are_no_significant_change_not_inconclusive() -> None:
    # Three runs a side can never reach p < 0.05; separated runs might with more repeats,
    # but runs that overlap already show the difference is inside the spread.
    floor = EffectFloor(relative=0.10, absolute=1.0)
    separated = verdict(
        "status_p99_ms", "a", "b", [100.0, 110.0, 120.0], [200.0, 210.0, 220.0], floor
    )
    assert separated.label == "inconclusive (n=3, need 4)"
    overlapping = verdict(
        "status_p99_ms", "a", "b", [100.0, 250.0, 120.0], [200.0, 90.0, 220.0], floor
    )
    assert overlapping.outcome == "same" and overlapping.label == "no significant change"
    assert overlapping.p_value is not None and overlapping.p_value > 0.1
