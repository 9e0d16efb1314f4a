"""From probe and load outputs to the figures of a RunResult (pure).

The experiment runner collects raw outputs (sampler rows, /metrics scrapes, the Locust
result, heap diffs, memray summaries); these functions turn each into the typed parts
of `profiling.results.folder.RunResult`, so the runner itself stays orchestration only.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from loadtests.results import RATE_TOLERANCE, LoadResult
from loadtests.runner import RATE_OPTION
from profiling.probes.dbevidence import DbEvidence
from profiling.probes.heapdiff import HeapDiff
from profiling.probes.memray_capture import MemraySummary
from profiling.probes.sampler import Member, Sample
from profiling.probes.summary import summarize
from profiling.results.folder import (
    AllocationSite,
    CommandCount,
    DbFigures,
    EndpointLatency,
    InFlight,
    LoadFigures,
    Phases,
    ProcessMemory,
    TreeProcess,
    WorkFigures,
)
from profiling.results.settle import Settled

# Commands that read documents; "DB reads per poll" counts these.
READ_COMMANDS = frozenset({"find", "getMore", "aggregate", "count", "distinct", "findAndModify"})
LOOP_LAG = "memdiag_event_loop_lag_seconds"
IN_FLIGHT = "memdiag_status_in_flight"
LIVE_ENTRIES = "memdiag_live_entries"
STATUS_ENDPOINT = "GET /api/tasks/{id}"


def process_memory(
    samples: Sequence[Sample],
    label: str,
    phase: str = "steady",
    *,
    settled: Settled | None = None,
) -> ProcessMemory | None:
    """The steady-phase memory of one sampled process; None if it was never sampled.

    With `settled` (the run knows when RSS settled) the growth is fitted only on the
    samples from then on, and is None when RSS had not settled (see `settled_from`)."""
    if not any(s.label == label and s.phase == phase for s in samples):
        return None
    m = summarize(samples, label, phase=phase)
    growth: float | None = m.growth_mib_per_min or 0.0
    if settled is not None:
        fitted = (
            summarize(samples, label, phase=phase, start_s=settled.from_t_s)
            if settled.settled
            else None
        )
        growth = None if fitted is None else fitted.growth_mib_per_min or 0.0
    return ProcessMemory(
        kernel_peak_bytes=m.peak_kernel_bytes or None,
        sampled_peak_bytes=m.peak_sampled_bytes,
        final_bytes=m.final_rss_bytes,
        median_bytes=m.median_rss_bytes,
        growth_mib_per_min=None if growth is None else round(growth, 4),
        samples=m.n_samples,
        cpu_percent=None if m.cpu_percent is None else round(m.cpu_percent, 2),
        pss_peak_bytes=max(
            (
                s.pss_bytes
                for s in samples
                if s.label == label and s.phase == phase and s.pss_bytes is not None
            ),
            default=None,
        ),
    )


def tree_processes(members: Sequence[Member]) -> tuple[TreeProcess, ...]:
    """The sampler's steady-phase members of a server tree; () for a single process."""
    if len(members) < 2:
        return ()
    return tuple(
        TreeProcess(m.pid, "main" if m.main else "child", m.command, m.peak_rss_bytes, m.rss_bytes)
        for m in members
    )


def phases_of(samples: Sequence[Sample]) -> Phases | None:
    steady = [s.t_s for s in samples if s.phase == "steady"]
    if not steady:
        return None
    return Phases(min(steady), max(steady), max(s.t_s for s in samples))


def latency(result: LoadResult) -> dict[str, EndpointLatency]:
    return {
        name: EndpointLatency(
            requests=e.requests,
            failures=e.failures,
            rps=round(e.rps, 3),
            p50_ms=e.p50_ms,
            p90_ms=e.p90_ms,
            p95_ms=e.p95_ms,
            p99_ms=e.p99_ms,
            p999_ms=e.p99_9_ms,
            max_ms=e.max_ms,
        )
        for name, e in result.steady.endpoints.items()
    }


def status_endpoint(endpoints: dict[str, EndpointLatency], wanted: str | None) -> str | None:
    """The status-poll endpoint: as asked, the reference scenarios' name, or the busiest GET."""
    if wanted is not None:
        return wanted if wanted in endpoints else None
    if STATUS_ENDPOINT in endpoints:
        return STATUS_ENDPOINT
    gets = [n for n in endpoints if n.upper().startswith("GET")]
    return max(gets, key=lambda n: endpoints[n].requests) if gets else None


def load_figures(result: LoadResult, target_rate_per_s: float) -> LoadFigures:
    """Achieved rate of the paced stream that carries the target (all of them summed if
    none matches), or requests per second for an unpaced locustfile."""
    streams = result.steady.streams
    match = [s for s in streams.values() if abs(s.target_per_s - target_rate_per_s) < 1e-6]
    chosen = match[:1] or list(streams.values())
    if chosen:
        achieved = sum(s.achieved_per_s for s in chosen)
        late = sum(s.late_sends for s in chosen)
    else:
        achieved = (
            result.steady.requests / result.steady.duration_s if result.steady.duration_s else 0.0
        )
        late = 0
    return LoadFigures(
        target_rate_per_s=target_rate_per_s,
        achieved_rate_per_s=round(achieved, 3),
        late_sends=late,
        saturated=result.generator.saturated,
    )


def work_figures(
    result: LoadResult, connections: tuple[int, float] | None = None
) -> WorkFigures | None:
    """The polled tasks' size and status bytes at the steady phase's ends (medians over
    the tasks), the polls served and the server's open connections (max, mean: from
    `connection_figures`); None when the load reported no work (a user's own locustfile)
    or polled no task in the steady phase."""
    work = result.work
    if work is None or not work.tasks:
        return None
    tasks = list(work.tasks.values())
    # A list request showing many tasks is one poll served, not one per task listed.
    polls = work.requests if work.requests is not None else sum(t.polls for t in tasks)
    seconds = result.steady.duration_s
    # The recorder's steady phase starts warmup_s after the load did (same epoch clock).
    ready_after_s = None
    if work.ready_at_s is not None and work.steady_start_s is not None:
        load_start_s = work.steady_start_s - result.warmup_s
        ready_after_s = round(max(work.ready_at_s - load_start_s, 0.0), 3)
    return WorkFigures(
        tasks=len(tasks),
        target_segments=work.target_segments,
        segments_start=_median([t.segments_start for t in tasks]),
        segments_end=_median([t.segments_end for t in tasks]),
        status_bytes_start=_median([t.status_bytes_start for t in tasks]),
        status_bytes_end=_median([t.status_bytes_end for t in tasks]),
        polls=polls,
        polls_per_s=round(polls / seconds, 3) if seconds > 0 else 0.0,
        ready_after_s=ready_after_s,
        stale_polls=sum(t.stale_polls for t in tasks),
        tasks_end_in_run=work.tasks_end_in_run,
        connections_max=None if connections is None else connections[0],
        connections_mean=None if connections is None else connections[1],
        tabs=work.tabs,
    )


def served_short(
    scenario: str | None, rate_per_s: float, duration_s: float, work: WorkFigures | None
) -> str | None:
    """Why a run whose server answered fewer status polls than were sent is invalid.

    Polls sent on time are not polls served: a server that cannot keep up answers fewer in
    the steady phase than were sent (the rest time out, or come back after the stop). The
    polls still in flight when the load stops are allowed for: up to one second's worth,
    or 5 % of the phase's, whichever is more. Only for the scenarios whose main stream is
    status polls."""
    if RATE_OPTION.get(scenario or "") != "poll_rate" or work is None or duration_s <= 0:
        return None
    missing = (rate_per_s - work.polls_per_s) * duration_s
    if missing <= max(RATE_TOLERANCE * rate_per_s * duration_s, rate_per_s * 1.0):
        return None
    return (
        f"the server answered {work.polls_per_s:.2f} status polls/s of the {rate_per_s:g}/s"
        f" sent in the steady phase (about {missing:.0f} polls short): it did not keep up"
        " (on this machine; a lower --rate or smaller tasks, -O initial_segments=N, fit it)"
    )


def db_figures(evidence: DbEvidence, steady_s: float | None = None) -> DbFigures:
    """Totals over all traffic; reads and reply bytes per poll from the status path alone
    (the server tags each command with the code path that sent it), so worker writes and
    list requests do not blur "DB reads per poll". A server without the tags: all traffic.
    With `steady_s` (the seconds between the two scrapes), the reply bytes per second."""
    by_command: dict[str, CommandCount] = {}
    for row in evidence.by_command:
        old = by_command.get(row.command, CommandCount(0, 0))
        by_command[row.command] = CommandCount(
            old.commands + row.commands, old.reply_bytes + row.reply_bytes
        )
    tagged = any(row.op for row in evidence.by_command)
    status_rows = [r for r in evidence.by_command if r.op == "status" or not tagged]
    reads = sum(r.commands for r in status_rows if r.command in READ_COMMANDS)
    status_bytes = sum(r.reply_bytes for r in status_rows)
    polls = evidence.status_polls
    commands_per_poll = evidence.commands_per_poll
    return DbFigures(
        commands_total=evidence.commands_total,
        reply_bytes_total=evidence.reply_bytes_total,
        status_polls=polls,
        reads_per_poll=round(reads / polls, 4) if polls else None,
        commands_per_poll=None if commands_per_poll is None else round(commands_per_poll, 4),
        reply_bytes_per_poll=round(status_bytes / polls, 1) if polls else None,
        by_command=by_command,
        reply_bytes_per_s=round(evidence.reply_bytes_total / steady_s, 1) if steady_s else None,
    )


def histogram_buckets(text: str, name: str = LOOP_LAG) -> dict[float, float]:
    """Cumulative bucket counts of one Prometheus histogram (upper bound -> count)."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name + "_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def histogram_totals(text: str, name: str) -> tuple[float, float] | None:
    """A Prometheus histogram's (_sum, _count); None when the metric is absent."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name in (name + "_sum", name + "_count"):
                key = sample.name.rsplit("_", 1)[1]
                found[key] = found.get(key, 0.0) + sample.value
    if "sum" not in found or "count" not in found:
        return None
    return found["sum"], found["count"]


def live_entries(scrape: str, name: str = LIVE_ENTRIES) -> dict[str, int] | None:
    """Entries per per-task structure in one /metrics scrape; None when it has none."""
    found: dict[str, int] = {}
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if sample.name == name and "structure" in sample.labels:
                found[sample.labels["structure"]] = int(sample.value)
    return found or None


def in_flight(before: str, after: str, name: str = IN_FLIGHT) -> InFlight | None:
    """Status requests in flight between two /metrics scrapes: the highest bucket bound
    that got an observation (the server observes the count, itself included, as each
    status request starts), the mean (delta sum / delta count), and how many started.
    None when the server exposes no such histogram, or the scrapes disagree (counters that
    went down: two processes answered them)."""
    old, new = histogram_buckets(before, name), histogram_buckets(after, name)
    old_totals, new_totals = histogram_totals(before, name), histogram_totals(after, name)
    if not new or new_totals is None or old_totals is None:
        return None  # both scrapes must carry it (a fresh server has it from the start)
    old_sum, old_count = old_totals
    polls = new_totals[1] - old_count
    total = new_totals[0] - old_sum
    bounds = sorted(new)
    cumulative = [new[b] - old.get(b, 0.0) for b in bounds]
    if polls < 0 or total < 0 or min(cumulative) < 0:
        return None
    highest, above = 0.0, False
    previous = 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count > previous:  # this bucket itself (counts are cumulative) got observations
            if bound == float("inf"):
                above = True
            else:
                highest = bound
        previous = count
    if above:
        highest = max((b for b in bounds if b != float("inf")), default=highest)
    return InFlight(
        max_in_flight=int(highest),
        mean_in_flight=round(total / polls, 3) if polls else 0.0,
        polls=int(polls),
        above_buckets=above,
    )


def histogram_quantile_ms(
    before: str, after: str, q: float = 0.99, name: str = LOOP_LAG
) -> float | None:
    """The q-quantile of a histogram's observations between two scrapes, in ms (the
    upper bound of the bucket it falls in, as Prometheus' histogram_quantile would
    interpolate; None when nothing was observed or the metric is absent)."""
    old, new = histogram_buckets(before, name), histogram_buckets(after, name)
    if not new:
        return None
    bounds = sorted(new)
    counts = [new[b] - old.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0 or min(counts) < 0:
        return None  # nothing observed, or the scrapes came from different processes
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return previous_bound * 1000.0
            share = (
                (rank - previous_count) / (count - previous_count)
                if count > previous_count
                else 1.0
            )
            return (previous_bound + (bound - previous_bound) * share) * 1000.0
        previous_bound, previous_count = bound, count
    return None


def short_path(frame: str) -> str:
    """'/usr/lib/python3.11/site-packages/bson/__init__.py:12' -> 'bson/__init__.py:12'.

    Also for memray's 'function /path/file.py:12' form; the stdlib and the current
    directory are trimmed the same way.
    """
    head, sep, location = frame.rpartition(" ")
    if sep and "/" in location:
        return f"{head} {short_path(location)}"
    for marker in ("site-packages/", "dist-packages/"):
        if marker in frame:
            return frame.split(marker, 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/", frame)
    if stdlib:
        return frame[stdlib.end() :]
    cwd = str(Path.cwd()) + "/"
    return frame[len(cwd) :] if frame.startswith(cwd) else frame


def heapdiff_sites(diff: HeapDiff, top: int = 10) -> tuple[AllocationSite, ...]:
    """Growth sites: the innermost frame of ours, and the allocating frame if elsewhere."""
    return tuple(
        AllocationSite(
            location=short_path(site.site)
            + (
                f" -> {short_path(site.traceback[0])}"
                if site.traceback and site.traceback[0] != site.site
                else ""
            ),
            size_bytes=site.size_diff_bytes,
            count=site.count_diff,
            source="tracemalloc-diff",
        )
        for site in diff.sites[:top]
    )


def memray_sites(summary: MemraySummary, top: int = 10) -> tuple[AllocationSite, ...]:
    return tuple(
        AllocationSite(s.site, s.size_bytes, s.n_allocations, "memray")
        for s in summary.top_sites[:top]
    )


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
