"""When a run's RSS settled, and the server's open connections: from the load and the timeline.

Under the tab model (loadtests.pacing.TabPacer) the server's RSS rises in the first
seconds of load for reasons the run knows: every tab's keep-alive connection is opened
and then holds its last reply (aiohttp keeps a connection's last response bound while it
waits for the next request), and the polled tasks grow to their size. A growth slope
fitted over that ramp is not retention. So the run takes the moment it knows RSS settled
(`settled_from`) and fits growth only from then (`profiling.results.figures.
process_memory`), or says it had not settled. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.results import LoadResult
from profiling.probes.sampler import Sample
from profiling.results.model import Phases


@dataclass(frozen=True, slots=True)
class Settled:
    """When the server's RSS settled for a reason the run knows (`settled_from`)."""

    after_s: float | None  # seconds after the steady start; None: not within the phase
    from_t_s: float  # the same moment on the timeline's clock (rss.csv's t_s)
    settled: bool  # early enough (in the first half of the steady phase) to fit growth on


def settled_from(result: LoadResult, phases: Phases | None, duration_s: float) -> Settled | None:
    """When RSS settled: the first moment in the steady phase at which every tab (each
    with its keep-alive connections) had a reply to a poll of the steady phase and every
    polled task was at its size (loadtests.work's `settled_at_s`). Until then RSS rises
    for reasons the run knows (connections still being opened and filled with a reply,
    tasks still growing), and a slope fitted over that ramp would quote it as growth.

    Growth is fitted only from that moment on; when less than half the steady phase is
    left after it (or it never came), the run has no growth figure and says RSS had not
    settled. None when the load reports no tabs (a scenario without the tab model, a
    user's own locustfile): the growth is then fitted on the whole steady phase."""
    work = result.work
    if work is None or work.tabs is None or phases is None or work.steady_start_s is None:
        return None
    if work.settled_at_s is None:
        return Settled(None, phases.steady_end_s, False)
    after_s = max(0.0, work.settled_at_s - work.steady_start_s)
    return Settled(round(after_s, 3), phases.steady_start_s + after_s, after_s <= duration_s / 2.0)


def connection_figures(samples: Sequence[Sample]) -> tuple[int, float] | None:
    """The server's open client connections over the steady phase: (max, mean); None when
    they were not counted."""
    counts = [
        s.connections
        for s in samples
        if s.label == "server" and s.phase == "steady" and s.connections is not None
    ]
    if not counts:
        return None
    return max(counts), round(sum(counts) / len(counts), 2)
