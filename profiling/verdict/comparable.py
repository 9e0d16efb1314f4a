"""Whether a comparison measures the designs: equal work, and a database that kept up (pure).

Two configurations compare only if they polled tasks of the same size at the same rate:
a design that starves its worker keeps its tasks small and looks lean for it. So
`work_differences` marks a configuration whose median task size (the mean of its
segments at steady start and end) or achieved status-poll rate differs from the
baseline's by more than `WORK_TOLERANCE`, and `not_stationary` a run whose tasks grew by
more than that within the steady phase (its RSS growth then measures task growth, not
retention). Runs without work figures (a user's own locustfile) are not checked.

The connections the load keeps open are work too: every idle keep-alive connection can
hold the last reply it carried (aiohttp keeps it bound until the next request), so the
same polls per second over 10 or 200 connections are not the same load. Two
configurations whose mean open connections in the steady phase (sampled from /proc)
differ by more than the tolerance are not comparable (`CONNECTIONS`). Under the tab model
the figure compared is counted up to one connection per tab (`WorkFigures.
tab_connections`): a tab opens another connection only while its previous poll is
pending, as a browser does, so a slow design's extra connections are its own doing
(shown in the Work table), not more work; a design holding fewer than the tabs' is
flagged. Runs recorded before connections were counted are not checked for it.

A scenario whose tasks live their whole life inside the run (it says so: task churn,
uploads; `tasks_end_in_run`) grows them by design, and their size at a moment says where
they were in their lives, not how much was done (a storm whose long tasks grow does not
say so: its tasks' size is its work, and a starved worker shows there). There the work
is the tasks run and the polls served: `work_differences` compares the number of polled
tasks (beyond the tolerance and by more than one task, a count's own granularity at the
phase's edges) and the poll rate, and `not_stationary` does not apply.

`db_bound` says whether the database, not the server, set a run's pace: the DB process
at `DB_CPU_BOUND_PERCENT` of one core or more, or the DB's time per poll (reads per poll
x the calibrated find_one) more than `DB_SHARE_BOUND` of the median status latency. Then
polls queue inside the DB and the server never holds many decoded documents at once,
which was the incident's mechanism.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from profiling.numbers import grouped, signed_pct, significant
from profiling.results.model import RunResult, WorkFigures
from profiling.verdict.stats import median

WORK_TOLERANCE = 0.10
DB_CPU_BOUND_PERCENT = 80.0
DB_SHARE_BOUND = 0.5

# NotComparable.metric values
TASK_SEGMENTS = "task_segments"
POLLS_PER_S = "polls_per_s"
TASK_GROWTH = "task_growth"
TASKS = "tasks"
CONNECTIONS = "connections"
# NotComparable.baseline of a configuration judged against its own target rate, not
# against another configuration.
TARGET = "target"


@dataclass(frozen=True, slots=True)
class NotComparable:
    """One reason a configuration's work is not the baseline's (or not stationary)."""

    configuration: str
    metric: str  # TASK_SEGMENTS, POLLS_PER_S, TASK_GROWTH, TASKS or CONNECTIONS
    baseline: str  # the baseline configuration; for TASK_GROWTH the run's own start
    baseline_value: float  # for TASK_GROWTH: the median task's segments at steady start
    value: float  # for TASK_GROWTH: at steady end
    diff_pct: float | None  # None when the baseline value is 0
    run: int | None = None  # the repeat, for TASK_GROWTH

    def describe(self) -> str:
        pct = "" if self.diff_pct is None else f" ({signed_pct(self.diff_pct)})"
        if self.metric == TASK_GROWTH:
            return (
                f"{self.configuration} run {self.run}: its tasks grew from "
                f"{grouped(self.baseline_value)} to {grouped(self.value)} segments in the steady "
                f"phase{pct}"
            )
        if self.metric == TASKS:
            return (
                f"{self.configuration} ran {grouped(self.value)} tasks in the steady phase, "
                f"{self.baseline} {grouped(self.baseline_value)}{pct}"
            )
        if self.metric == CONNECTIONS:
            return (
                f"{self.configuration} held {grouped(self.value, 1)} connections open on average"
                " (up to one per tab), "
                f"{self.baseline} {grouped(self.baseline_value, 1)}{pct}"
            )
        if self.metric == POLLS_PER_S and self.baseline == TARGET:
            return (
                f"{self.configuration} served {grouped(self.value, 1)} status polls/s of its "
                f"target {significant(self.baseline_value, 4)}{pct}"
            )
        if self.metric == POLLS_PER_S:
            return (
                f"{self.configuration} served {grouped(self.value, 1)} status polls/s, "
                f"{self.baseline} {grouped(self.baseline_value, 1)}{pct}"
            )
        return (
            f"{self.configuration} polled tasks of {grouped(self.value)} segments, "
            f"{self.baseline} {grouped(self.baseline_value)}{pct}"
        )


def _diff_pct(base: float, value: float) -> float | None:
    return None if base == 0 else round((value / base - 1.0) * 100.0, 1)


def _outside(base: float, value: float, tolerance: float) -> bool:
    if base == 0:
        return value != 0
    return abs(value / base - 1.0) > tolerance


def grows_by_design(work: WorkFigures) -> bool:
    """Whether the run's tasks live their whole life in it, as its scenario says."""
    return work.tasks_end_in_run


def median_work(runs: Sequence[RunResult]) -> WorkFigures | None:
    """The configuration's work: each figure's median over the runs that recorded one."""
    works = [r.work for r in runs if r.work is not None]
    if not works:
        return None

    def mid(values: Sequence[float]) -> float:
        return round(median(values), 3)

    ready = [w.ready_after_s for w in works if w.ready_after_s is not None]
    stale = [w.stale_polls for w in works if w.stale_polls is not None]
    conn_max = [w.connections_max for w in works if w.connections_max is not None]
    conn_mean = [w.connections_mean for w in works if w.connections_mean is not None]
    tabs = [w.tabs for w in works if w.tabs is not None]
    return WorkFigures(
        tasks=round(median([w.tasks for w in works])),
        target_segments=round(median([w.target_segments for w in works])),
        segments_start=mid([w.segments_start for w in works]),
        segments_end=mid([w.segments_end for w in works]),
        status_bytes_start=mid([w.status_bytes_start for w in works]),
        status_bytes_end=mid([w.status_bytes_end for w in works]),
        polls=round(median([w.polls for w in works])),
        polls_per_s=mid([w.polls_per_s for w in works]),
        ready_after_s=mid(ready) if ready else None,
        stale_polls=round(median(stale)) if stale else None,
        tasks_end_in_run=all(w.tasks_end_in_run for w in works),
        connections_max=round(median(conn_max)) if conn_max else None,
        connections_mean=mid(conn_mean) if conn_mean else None,
        tabs=round(median(tabs)) if tabs else None,
    )


def work_differences(
    baseline: str,
    base: WorkFigures | None,
    configuration: str,
    work: WorkFigures | None,
    tolerance: float = WORK_TOLERANCE,
    *,
    compare_rate: bool = True,
) -> list[NotComparable]:
    """How `configuration`'s work differs from the baseline's beyond the tolerance.

    Without `compare_rate` the poll rates are not set side by side: one side fell short
    of its target (`missed_target` marks that side), and the other, on target, is not to
    blame for the difference."""
    if base is None or work is None:
        return []
    found = []
    lifecycle = grows_by_design(base) and grows_by_design(work)
    size = (TASKS, base.tasks, work.tasks) if lifecycle else None
    figures = [size or (TASK_SEGMENTS, base.task_segments, work.task_segments)]
    if compare_rate:
        figures.append((POLLS_PER_S, base.polls_per_s, work.polls_per_s))
    held, base_held = work.tab_connections, base.tab_connections
    if base_held is not None and held is not None:
        figures.append((CONNECTIONS, base_held, held))
    for metric, b, v in figures:
        if _outside(b, v, tolerance) and not (metric == TASKS and abs(v - b) <= 1):
            found.append(NotComparable(configuration, metric, baseline, b, v, _diff_pct(b, v)))
    return found


def missed_target(
    configuration: str,
    work: WorkFigures | None,
    target_per_s: float,
    tolerance: float = WORK_TOLERANCE,
) -> NotComparable | None:
    """The configuration served fewer polls than its own target, beyond the tolerance.

    Only a shortfall counts: a scenario that polls every listed task (the dashboard), or
    polls as its tasks ask (uploads, task churn), serves more polls than its target rate
    by design; none serves fewer unless the server fell behind."""
    if work is None or target_per_s <= 0 or grows_by_design(work):
        return None
    if work.polls_per_s >= target_per_s * (1.0 - tolerance):
        return None
    return NotComparable(
        configuration,
        POLLS_PER_S,
        TARGET,
        target_per_s,
        work.polls_per_s,
        _diff_pct(target_per_s, work.polls_per_s),
    )


def not_stationary(run: RunResult, tolerance: float = WORK_TOLERANCE) -> NotComparable | None:
    """The run's tasks grew by more than the tolerance within the steady phase."""
    w = run.work
    if w is None or grows_by_design(w) or not _outside(w.segments_start, w.segments_end, tolerance):
        return None
    if w.segments_end < w.segments_start:
        return None  # tasks that shrink were replaced; the sizes still say what was polled
    return NotComparable(
        run.configuration,
        TASK_GROWTH,
        run.configuration,
        w.segments_start,
        w.segments_end,
        _diff_pct(w.segments_start, w.segments_end),
        run.repeat,
    )


@dataclass(frozen=True, slots=True)
class DbBound:
    """Why the database bounded a run (or a configuration's medians)."""

    by_cpu: bool  # the DB process used DB_CPU_BOUND_PERCENT of one core or more
    by_latency: bool  # the DB's time per poll was most of the status latency
    db_cpu_percent: float | None
    db_ms_per_poll: float | None  # reads per poll x the calibrated find_one
    status_p50_ms: float | None
    runs_bound: int = 1  # for a configuration: how many measured runs met the rule alone

    def reason(self) -> str:
        parts = []
        if self.by_cpu and self.db_cpu_percent is not None:
            parts.append(f"its CPU averaged {grouped(self.db_cpu_percent)} % of one core")
        if self.by_latency and self.db_ms_per_poll is not None:
            parts.append(
                f"its reads per poll at the calibrated find_one come to "
                f"{grouped(self.db_ms_per_poll)} ms, more than half the "
                f"{grouped(self.status_p50_ms or 0)} ms median status poll"
            )
        return " and ".join(parts)


def db_bound(
    db_cpu_percent: float | None,
    reads_per_poll: float | None,
    find_one_ms: float | None,
    status_p50_ms: float | None,
) -> DbBound | None:
    """The rule, on plain figures; None when the DB did not bound it (or nothing says so)."""
    by_cpu = db_cpu_percent is not None and db_cpu_percent >= DB_CPU_BOUND_PERCENT
    db_ms = (
        reads_per_poll * find_one_ms
        if reads_per_poll is not None and find_one_ms is not None
        else None
    )
    by_latency = (
        db_ms is not None
        and status_p50_ms is not None
        and db_ms > 0
        and db_ms > DB_SHARE_BOUND * status_p50_ms
    )
    if not (by_cpu or by_latency):
        return None
    return DbBound(
        by_cpu,
        by_latency,
        db_cpu_percent,
        None if db_ms is None else round(db_ms, 1),
        status_p50_ms,
    )


def run_db_bound(run: RunResult) -> DbBound | None:
    db = run.memory.get("db")
    return db_bound(
        db.cpu_percent if db is not None else None,
        run.db.reads_per_poll if run.db is not None else None,
        run.calibration.find_one_ms if run.calibration is not None else None,
        run.status.p50_ms if run.status is not None else None,
    )


def config_db_bound(runs: Sequence[RunResult]) -> DbBound | None:
    """The rule on the medians of a configuration's measured runs."""

    def mid(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return median(present) if present else None

    found = db_bound(
        mid([db.cpu_percent if (db := r.memory.get("db")) else None for r in runs]),
        mid([r.db.reads_per_poll if r.db else None for r in runs]),
        mid([r.calibration.find_one_ms if r.calibration else None for r in runs]),
        mid([r.status.p50_ms if r.status else None for r in runs]),
    )
    if found is None:
        return None
    return DbBound(
        found.by_cpu,
        found.by_latency,
        found.db_cpu_percent,
        found.db_ms_per_poll,
        found.status_p50_ms,
        sum(run_db_bound(r) is not None for r in runs),
    )
