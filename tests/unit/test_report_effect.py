"""Effect sizes with intervals and the statistics note (issue 23, problem 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiling.report.render import render_markdown
from profiling.results.folder import load_runs
from profiling.verdict.compare import compare
from profiling.verdict.effect import holm, p_floor_note, shift_interval


def test_hodges_lehmann_interval_on_ratios() -> None:
    base = [420.0, 423.0, 425.0, 430.0]
    cand = [72.0, 73.0, 74.0, 75.0]
    interval = shift_interval(base, cand, ratio=True)
    assert interval is not None and interval.ratio
    # 4 vs 4: the exact interval is the range of the 16 pairwise ratios, at 1 - 2/70.
    assert interval.confidence == pytest.approx(1 - 2 / 70)
    assert interval.low == pytest.approx(72.0 / 430.0)
    assert interval.high == pytest.approx(75.0 / 420.0)
    assert interval.low < interval.estimate < interval.high


def test_interval_on_differences_and_too_few_repeats() -> None:
    interval = shift_interval(list(range(10)), [x + 5.0 for x in range(10)], ratio=False)
    assert interval is not None and interval.estimate == 5.0
    assert interval.low < 5.0 < interval.high and interval.confidence >= 0.95
    assert shift_interval([1.0, 2.0], [3.0, 4.0], ratio=False) is None  # 2 vs 2 cannot reach 95 %
    assert shift_interval([1.0, 0.0], [3.0, 4.0], ratio=True) is None  # no ratio of 0


def test_holm_and_the_p_floor() -> None:
    assert holm([0.001, 0.04, 0.03]) == [True, False, False]
    assert holm([0.029] * 34) == [False] * 34
    assert "0.029" in p_floor_note(4)
    assert "cannot give p below 0.33" in p_floor_note(2)


def test_report_states_the_floor_the_tests_and_what_n_detects(fixture_runs: Path) -> None:
    md = render_markdown(compare(load_runs(fixture_runs / "three-modes")))
    results = md.split("## Results")[1].split("###")[0]
    assert "smallest p the exact U test can give is 0.029" in results
    assert "under Holm's correction" in results
    assert "these repeats detect a change of peak RSS of about" in results
    # The interval sits beside p in the verdict.
    verdict = md.split("## Verdict")[1].split("##")[0]
    assert "97 % CI" in verdict and "p = 0.029" in verdict
