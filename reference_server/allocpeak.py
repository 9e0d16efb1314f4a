"""Per-request allocation peaks under tracemalloc: how much one task-list request allocates.

RSS is too coarse for a list request: the allocator keeps what a request freed, so a
process's RSS moves by arenas, not by requests. While tracemalloc runs (an attribution
run: `--tracemalloc-frames N` or POST /debug/tracemalloc/start), `REQUEST_PEAKS.measure(
"list")` wraps each list request: it restarts tracemalloc's peak when the request starts
and records the traced peak above the request's starting point when it ends. That is
the most Python memory alive at once on its account (other threads' allocations in that
time included: the dashboard's workers add a few segments a second, small beside a list).

tracemalloc's peak is process-wide, so two overlapping list requests would reset each
other's: a request that overlapped another records nothing and is counted as
`overlapped` instead. The process-wide peak the resets would lose is kept
(`phase_peak`), so /debug/memory's tracemalloc peak stays the phase's. With tracemalloc
off, `measure` does nothing. /debug/memory reports the figures; POST
/debug/tracemalloc/reset-peak starts them again (the profiler does at the steady
phase's start). A frame or two is enough for a peak (25 frames stall the full-view
designs under a storm).
"""

from __future__ import annotations

import contextlib
import statistics
import tracemalloc
from collections.abc import Iterator
from typing import Any

MAX_SAMPLES = 10_000  # a bound on what a long run keeps (about 80 KiB)


class _Request:
    __slots__ = ("alone", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.alone = True


class RequestPeaks:
    """Traced allocation peaks per request kind, while tracemalloc runs (see the module)."""

    def __init__(self) -> None:
        self.peaks: dict[str, list[int]] = {}
        self.overlapped: dict[str, int] = {}
        self._in_flight: list[_Request] = []
        self._phase_peak = 0

    @contextlib.contextmanager
    def measure(self, kind: str) -> Iterator[None]:
        if not tracemalloc.is_tracing():
            yield
            return
        if self._in_flight:
            # Neither this request nor the ones running can have a peak of their own.
            for other in self._in_flight:
                other.alone = False
            request = _Request(0)
            request.alone = False
        else:
            self._phase_peak = max(self._phase_peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
            request = _Request(tracemalloc.get_traced_memory()[0])
        self._in_flight.append(request)
        try:
            yield
        finally:
            self._in_flight.remove(request)
            if tracemalloc.is_tracing() and request.alone:
                peak = tracemalloc.get_traced_memory()[1]
                samples = self.peaks.setdefault(kind, [])
                if len(samples) < MAX_SAMPLES:
                    samples.append(max(0, peak - request.start))
            else:
                self.overlapped[kind] = self.overlapped.get(kind, 0) + 1

    def phase_peak(self) -> int:
        """The traced peak since the last reset, across the per-request resets."""
        current = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
        return max(self._phase_peak, current)

    def reset(self) -> None:
        self.peaks.clear()
        self.overlapped.clear()
        self._phase_peak = 0

    def summary(self) -> dict[str, Any]:
        """{kind: {count, overlapped, max_bytes, median_bytes, peaks_bytes}} for /debug/memory."""
        out: dict[str, Any] = {}
        for kind in sorted(set(self.peaks) | set(self.overlapped)):
            samples = self.peaks.get(kind, [])
            out[kind] = {
                "count": len(samples),
                "overlapped": self.overlapped.get(kind, 0),
                "max_bytes": max(samples) if samples else None,
                "median_bytes": int(statistics.median(samples)) if samples else None,
                "peaks_bytes": list(samples),
            }
        return out


# tracemalloc is process-wide, so its per-request bookkeeping is too.
REQUEST_PEAKS = RequestPeaks()
