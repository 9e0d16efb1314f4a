"""Open-model pacing: a fixed arrival rate shared by every user of a process.

Locust's `constant_throughput` caps each user on its own, so a slow server slows the
load down (a closed model) and the slower design is spared load. A `Pacer` instead hands
out *intended send times* on one global schedule: slot k is due at `start + k / rate`.
A user claims the next slot, sleeps until it is due and sends; when every user is busy
the slot is claimed late and the lateness shows up in the latency, which is measured
from the intended time (no coordinated omission).

With several load-generator processes each one paces `rate * share` so the total stays
the target; `process_share` computes the split.

A `TabPacer` is the tab model of the polling scenarios: each Locust user is one browser
tab with a schedule of its own (slot k at `start + offset + k * interval`) and its own
keep-alive connection(s). Tab g of U tabs at a total rate R polls every U / R seconds at
offset g / R, so the tabs' slots together are exactly the global schedule
`start + j / R` (the open model's guarantee holds, and the recorder's count of due slots
stays right). Like a browser, a tab whose previous poll has not returned when the next
one is due sends it on another connection (HTTP/1.1 browsers open up to 6 per origin),
so a slow design still gets its polls on time; only with all 6 busy does a send wait.
"""

from __future__ import annotations

import math


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


BROWSER_CONNECTIONS = 6  # HTTP/1.1 connections a browser opens per origin


class TabPacer:
    """One tab's schedule and connection pool (indices, not sockets: no I/O here)."""

    __slots__ = ("_busy", "_next_s", "interval_s", "max_busy", "max_connections", "opened")

    def __init__(
        self,
        interval_s: float,
        first_s: float,
        *,
        not_before_s: float | None = None,
        max_connections: int = BROWSER_CONNECTIONS,
    ) -> None:
        """Slots at `first_s + k * interval_s`; a tab opened later (`not_before_s`) starts
        at its first slot from then: a tab that was not open has no polls to catch up."""
        if interval_s <= 0:
            raise ValueError(f"tab interval must be > 0, got {interval_s}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.interval_s = interval_s
        self.max_connections = max_connections
        if not_before_s is not None and not_before_s > first_s:
            skipped = math.ceil((not_before_s - first_s) / interval_s - 1e-9)
            first_s += skipped * interval_s
        self._next_s = first_s
        self._busy: list[bool] = []  # one per connection opened, True while a request is out
        self.opened = 0  # connections this tab opened
        self.max_busy = 0  # the most requests it had out at once

    @classmethod
    def for_tab(
        cls,
        index: int,
        tabs: int,
        rate_per_s: float,
        start_s: float,
        *,
        not_before_s: float | None = None,
        max_connections: int = BROWSER_CONNECTIONS,
    ) -> TabPacer:
        """Tab `index` of `tabs` sharing a total of `rate_per_s`: every tabs / rate seconds,
        offset index / rate, so the tabs interleave."""
        if tabs < 1 or not 0 <= index < tabs:
            raise ValueError(f"tab {index} of {tabs}: need 0 <= index < tabs")
        if rate_per_s <= 0:
            raise ValueError(f"tab rate must be > 0, got {rate_per_s}")
        return cls(
            tabs / rate_per_s,
            start_s + index / rate_per_s,
            not_before_s=not_before_s,
            max_connections=max_connections,
        )

    def claim(self) -> float:
        """The next slot's due time; the caller sends then on `acquire()`'s connection."""
        due_s = self._next_s
        self._next_s += self.interval_s
        return due_s

    def acquire(self) -> int | None:
        """The connection to send on now: the first idle one, else a new one while fewer
        than `max_connections` are open; None when all of them are busy (the send waits
        for `release`)."""
        for index, busy in enumerate(self._busy):
            if not busy:
                self._busy[index] = True
                break
        else:
            if len(self._busy) >= self.max_connections:
                return None
            self._busy.append(True)
            self.opened += 1
            index = len(self._busy) - 1
        self.max_busy = max(self.max_busy, sum(self._busy))
        return index

    def release(self, index: int) -> None:
        """The request on connection `index` returned; the connection stays open."""
        if not self._busy[index]:
            raise ValueError(f"connection {index} was not busy")
        self._busy[index] = False

    @property
    def pending(self) -> int:
        return sum(self._busy)


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
