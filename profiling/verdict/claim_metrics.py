"""The figures a claim can be judged on beyond `compare.METRICS` (pure): what a run ends
with, what the per-task dicts still hold, a list request's allocation peak, stale
replies; and `CLAIM_METRICS`, every metric a claim may name.

Kept apart from `claims` (the judging) so that module stays one concept.
"""

from __future__ import annotations

from profiling.results.folder import MIB, RunResult
from profiling.verdict.compare import METRICS_BY_KEY, Metric
from profiling.verdict.stats import EffectFloor


def _final_rss(run: RunResult) -> float | None:
    server = run.memory.get("server")
    return None if server is None else float(server.final_bytes)


# What a task leaves behind once it ended: RSS when the run stops (after the cool-down).
FINAL_RSS = Metric(
    "final_rss_bytes", "Final RSS (server, end of cool-down)", "bytes",
    EffectFloor(relative=0.05, absolute=5 * MIB), _final_rss,
)  # fmt: skip


def _live_entries(run: RunResult) -> float | None:
    return None if run.live_entries is None else float(sum(run.live_entries.values()))


# What the four per-task dicts still hold: the structures changes 6 and 8 empty. (The
# "requests" unit formats a plain count.)
LIVE_ENTRIES = Metric(
    "live_entries", "Entries left in the four per-task dicts (steady end)", "requests",
    EffectFloor(relative=0.10, absolute=1.0), _live_entries,
)  # fmt: skip


def _list_alloc_peak(run: RunResult) -> float | None:
    return None if run.request_peaks is None else run.request_peaks.median_bytes


# Where RSS is too coarse (the allocator keeps what a list freed): the Python memory one
# list request holds at once, from a tracemalloc attribution run (`ablate
# --attribution`). Its samples are the requests of that run, not repeats of runs.
LIST_ALLOC_PEAK = Metric(
    "list_alloc_peak_bytes", "Allocation peak per list request (tracemalloc)", "bytes",
    EffectFloor(relative=0.05, absolute=32 * 1024), _list_alloc_peak,
)  # fmt: skip


def _stale_replies(run: RunResult) -> float | None:
    w = run.work
    if w is None or w.stale_polls is None or not w.polls:
        return None
    return w.stale_polls / w.polls


# What a poll served by a process that does not run the task sees: an older copy. The
# floor: half a percent of the polls, or a tenth of the reference's share.
STALE_REPLIES = Metric(
    "stale_replies_per_poll", "Stale status replies (fewer segments than seen before)",
    "ratio", EffectFloor(relative=0.10, absolute=0.005), _stale_replies,
)  # fmt: skip
PER_REQUEST = {LIST_ALLOC_PEAK.key}
# Claims whose own metric is the per-request peak when attribution runs measured it:
# change 7 promises "20-30 % per list call", and a list call's few hundred KiB vanish in
# the RSS of a process that holds 220 tasks (measured: RSS within 0.3 MiB either way).
# Without attribution runs they keep their first metric.
PRIMARY_WITH_ATTRIBUTION = {"list_cleanup": LIST_ALLOC_PEAK.key}
CLAIM_METRICS: dict[str, Metric] = {
    **METRICS_BY_KEY,
    FINAL_RSS.key: FINAL_RSS,
    LIVE_ENTRIES.key: LIVE_ENTRIES,
    LIST_ALLOC_PEAK.key: LIST_ALLOC_PEAK,
    STALE_REPLIES.key: STALE_REPLIES,
}
