"""The three-way verdict on synthetic samples: same, regression, unknown, improvement."""

from __future__ import annotations

import random

import pytest

from profiling.verdict.equivalence import parse_tolerance, ratio_interval, three_way

MIB = 1 << 20


def noisy(center: float, spread: float, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [center * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def test_identical_builds_are_same() -> None:
    a = noisy(100 * MIB, 0.01, 5, 1)
    b = noisy(100 * MIB, 0.01, 5, 2)
    v = three_way(a, b, tolerance=0.05)
    assert v.verdict == "same", v.reason
    assert v.interval is not None and 0.95 <= v.interval.low <= v.interval.high <= 1.05


def test_one_and_a_half_times_is_a_regression() -> None:
    v = three_way(noisy(100 * MIB, 0.02, 3, 1), noisy(150 * MIB, 0.02, 3, 2))
    assert v.verdict == "regression", v.reason
    assert v.interval is not None and 1.4 < v.interval.estimate < 1.6
    assert v.worse


def test_the_mirror_image_is_an_improvement_not_a_regression() -> None:
    v = three_way(noisy(150 * MIB, 0.02, 3, 1), noisy(100 * MIB, 0.02, 3, 2))
    assert v.verdict == "improvement"
    assert not v.worse


def test_two_runs_a_side_are_unknown_however_far_apart() -> None:
    v = three_way([100.0, 101.0], [200.0, 201.0])
    assert v.verdict == "unknown"
    assert "too few runs" in v.reason


def test_wide_spread_is_unknown_and_more_runs_decide() -> None:
    # 20 % spread hides a 3 % change at n=3: neither inside ±5 % nor shown outside.
    a, b = noisy(100.0, 0.2, 3, 3), noisy(103.0, 0.2, 3, 4)
    assert three_way(a, b).verdict == "unknown"
    # The same builds with a tight spread and more runs: shown inside the tolerance.
    a, b = noisy(100.0, 0.01, 12, 5), noisy(101.0, 0.01, 12, 6)
    assert three_way(a, b).verdict == "same"


def test_small_but_shown_increase_inside_tolerance_is_not_a_regression() -> None:
    # 2 % more, clearly separated: a real difference, but inside the 5 % tolerance.
    v = three_way([100.0, 100.1, 100.2, 99.9], [102.0, 102.1, 101.9, 102.2], tolerance=0.05)
    assert v.verdict == "same"
    assert v.p_value < 0.05


def test_a_a_is_called_a_regression_at_most_alpha_of_the_time() -> None:
    # Run-to-run spread as wide as the tolerance: the worst case for an A/A comparison.
    verdicts = [
        three_way(noisy(100.0, 0.05, 4, s), noisy(100.0, 0.05, 4, s + 1000)).verdict
        for s in range(400)
    ]
    assert verdicts.count("regression") / len(verdicts) <= 0.05
    # With the spread a fifth of the tolerance, never.
    tight = [
        three_way(noisy(100.0, 0.01, 4, s), noisy(100.0, 0.01, 4, s + 1000)).verdict
        for s in range(400)
    ]
    assert "regression" not in tight


def test_interval_of_three_against_three_is_the_full_range() -> None:
    iv = ratio_interval([1.0, 2.0, 4.0], [2.0, 4.0, 8.0])
    assert iv is not None
    assert iv.low == pytest.approx(0.5) and iv.high == pytest.approx(8.0)
    assert iv.estimate == pytest.approx(2.0)
    assert iv.confidence == pytest.approx(0.9)


def test_interval_needs_positive_values() -> None:
    with pytest.raises(ValueError):
        ratio_interval([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize(("text", "value"), [("5%", 0.05), ("0.1", 0.1), (" 2.5% ", 0.025)])
def test_parse_tolerance(text: str, value: float) -> None:
    assert parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["0", "100%", "-5%", "abc"])
def test_parse_tolerance_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tolerance(text)
