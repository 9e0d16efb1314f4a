"""Open-model pacing: a fixed arrival rate shared by every user of a process.

Locust's `constant_throughput` caps each user on its own, so a slow server slows the
load down (a closed model) and the slower design is spared load. A `Pacer` instead hands
out *intended send times* on one global schedule: slot k is due at `start + k / rate`.
A user claims the next slot, sleeps until it is due and sends; when every user is busy
the slot is claimed late and the lateness shows up in the latency, which is measured
from the intended time (no coordinated omission).

With several load-generator processes each one paces `rate * share` so the total stays
the target; `process_share` computes the split.
"""

from __future__ import annotations


class Pacer:
    """One stream of intended send times (e.g. all status polls of one process)."""

    __slots__ = ("_interval_s", "_next_s", "rate_per_s")

    def __init__(self, rate_per_s: float, start_s: float) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"pacer rate must be > 0, got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self._interval_s = 1.0 / rate_per_s
        self._next_s = start_s

    def claim(self) -> float:
        """The next intended send time; the caller sleeps until then (it may be past)."""
        due_s = self._next_s
        self._next_s += self._interval_s
        return due_s


def process_share(total_rate_per_s: float, processes: int) -> float:
    """The rate one of `processes` equal load-generator processes must pace."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    return total_rate_per_s / processes


def split_evenly(total: int, processes: int, index: int) -> int:
    """How many of `total` items (e.g. storm tasks) process `index` of `processes` owns."""
    if not 0 <= index < processes:
        raise ValueError(f"index {index} outside 0..{processes - 1}")
    return total // processes + (1 if index < total % processes else 0)
