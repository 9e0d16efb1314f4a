"""The bisect search without measuring: next commit, skips, and the answer."""

from __future__ import annotations

import pytest

from profiling.verdict.bisection import Bisection

COMMITS = [f"c{i:02d}" for i in range(16)]


def walk(bisection: Bisection, first_bad: int, broken: set[int]) -> list[str]:
    """Answer like a perfect oracle would: bad from `first_bad` on, skip the broken."""
    visited = []
    while (commit := bisection.next()) is not None:
        visited.append(commit)
        i = COMMITS.index(commit)
        bisection.mark(commit, "skip" if i in broken else ("bad" if i >= first_bad else "good"))
    return visited


@pytest.mark.parametrize("first_bad", range(1, 16))
def test_finds_every_first_bad_commit_in_log2_steps(first_bad: int) -> None:
    b = Bisection(COMMITS)
    visited = walk(b, first_bad, set())
    answer = b.answer()
    assert answer is not None and answer.exact
    assert answer.first_bad == COMMITS[first_bad]
    assert answer.last_good == COMMITS[first_bad - 1]
    assert len(visited) <= 4


def test_a_broken_middle_commit_is_skipped_for_its_neighbour() -> None:
    b = Bisection(COMMITS)
    visited = walk(b, 10, {7})
    assert visited[:2] == ["c07", "c08"]
    answer = b.answer()
    assert answer is not None and answer.first_bad == "c10" and answer.exact


def test_skips_that_hide_the_answer_name_the_range() -> None:
    b = Bisection(COMMITS)
    walk(b, 9, {7, 8})
    answer = b.answer()
    assert answer is not None and not answer.exact
    assert answer.last_good == "c06"
    assert answer.candidates == ("c07", "c08", "c09")


def test_no_answer_before_the_search_is_over_and_bad_input() -> None:
    b = Bisection(COMMITS)
    assert b.answer() is None
    with pytest.raises(ValueError):
        b.mark("c00", "bad")  # the good end is outside the range searched
    with pytest.raises(ValueError):
        b.mark("c05", "maybe")
    with pytest.raises(ValueError):
        Bisection(["only"])
    two = Bisection(["a", "b"])
    assert two.next() is None
    answer = two.answer()
    assert answer is not None and answer.first_bad == "b"
