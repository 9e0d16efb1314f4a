"""The search of a bisect, without measuring anything: which commit next, and the answer.

`Bisection(commits)` holds the commits from the good end (index 0) to the bad end
(last), oldest first. The caller measures the commit `next()` names and tells the
outcome with `mark(commit, "good" | "bad" | "skip")`: "good" for a verdict of same
or improvement against the good end, "bad" for a regression, "skip" for a commit that
does not build or start or whose verdict stayed unknown. Like `git bisect`, a skipped
commit makes the search try the untested commit nearest the middle instead.

`answer()` is the first bad commit when the commits between the last good and the
first bad are all skipped or there are none; otherwise (skips hide it) the range it
lies in: `Answer.candidates` names every commit that may be the first bad one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OUTCOMES = ("good", "bad", "skip")


@dataclass(frozen=True, slots=True)
class Answer:
    last_good: str
    first_bad: str
    candidates: tuple[str, ...]  # first_bad and the skipped commits before it

    @property
    def exact(self) -> bool:
        return len(self.candidates) == 1


class Bisection:
    def __init__(self, commits: Sequence[str]) -> None:
        if len(commits) < 2:
            raise ValueError("a bisection needs a good and a bad commit")
        if len(set(commits)) != len(commits):
            raise ValueError("a commit appears twice in the range")
        self.commits = list(commits)
        self.good = 0
        self.bad = len(commits) - 1
        self.skipped: set[int] = set()

    def next(self) -> str | None:
        """The commit to measure next, or None when the search is over."""
        untested = [i for i in range(self.good + 1, self.bad) if i not in self.skipped]
        if not untested:
            return None
        middle = (self.good + self.bad) / 2
        # Nearest the middle; on a tie the older one (as git bisect leans).
        return self.commits[min(untested, key=lambda i: (abs(i - middle), i))]

    def mark(self, commit: str, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
        i = self.commits.index(commit)
        if not self.good < i < self.bad:
            raise ValueError(f"{commit} is outside the range still searched")
        if outcome == "good":
            self.good = i
        elif outcome == "bad":
            self.bad = i
        else:
            self.skipped.add(i)

    @property
    def steps_left(self) -> int:
        """About how many more measured steps (log2 of the untested commits)."""
        n = sum(1 for i in range(self.good + 1, self.bad) if i not in self.skipped)
        return max(0, n.bit_length())

    def answer(self) -> Answer | None:
        """The first bad commit (or the range hiding it) once `next()` is None."""
        if self.next() is not None:
            return None
        between = tuple(self.commits[i] for i in range(self.good + 1, self.bad))
        return Answer(
            self.commits[self.good], self.commits[self.bad], (*between, self.commits[self.bad])
        )
