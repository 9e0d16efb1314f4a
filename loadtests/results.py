"""The typed result of one load run, parsed from the JSON a scenario writes at the end.

    LoadResult
    ├── phases["total"] / phases["steady"]: PhaseResult   (steady = after the warm-up)
    │   ├── endpoints[name]: EndpointStats   (HDR percentiles from the intended send time)
    │   └── streams[name]: StreamStats       (paced sends: target vs achieved, late sends)
    ├── generator: GeneratorStats            (Locust's own CPU and RSS, saturation)
    └── work: WorkResult | None              (the polled tasks as the status replies showed
                                              them: size at steady start and end, polls)

`LoadResult.steady` is what a measurement should use; `problems()` says why a run is
not a valid measurement (rate missed by more than the tolerance, generator saturated,
failures). Pure: no locust, no I/O beyond `load_result(path)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.recorder import SCHEMA_VERSION

RATE_TOLERANCE = 0.05


class ResultFormatError(ValueError):
    """The result file is missing, not JSON, or of another schema version."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class EndpointStats:
    requests: int
    failures: int
    rps: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p99_9_ms: float
    max_ms: float
    hdr: str  # base64 HDR histogram (microseconds), to merge repeats later


@dataclass(frozen=True, slots=True)
class StreamStats:
    target_per_s: float
    achieved_per_s: float  # sends over the span of the slots that fell due in the phase
    due_sends: int  # slots of the schedule that fell due in the phase
    sends: int
    late_sends: int
    send_lag_p99_ms: float
    send_lag_max_ms: float

    @property
    def achieved_ratio(self) -> float:
        return self.achieved_per_s / self.target_per_s if self.target_per_s else 1.0


@dataclass(frozen=True, slots=True)
class PhaseResult:
    duration_s: float
    requests: int
    failures: int
    failures_by_name: dict[str, int]
    endpoints: dict[str, EndpointStats]
    streams: dict[str, StreamStats]


@dataclass(frozen=True, slots=True)
class ProcessStats:
    role: str  # "local", "master" or "worker"
    pid: int
    cpu_s: float
    cpu_percent_mean: float
    cpu_percent_max: float
    rss_bytes: int
    peak_rss_bytes: int


@dataclass(frozen=True, slots=True)
class GeneratorStats:
    processes: tuple[ProcessStats, ...]
    locust_cpu_warning: bool

    @property
    def saturated(self) -> bool:
        """Locust warned that a generator process ran above 90 % CPU."""
        return self.locust_cpu_warning

    @property
    def cpu_percent_max(self) -> float:
        return max((p.cpu_percent_max for p in self.processes), default=0.0)

    @property
    def rss_bytes_total(self) -> int:
        return sum(p.rss_bytes for p in self.processes)


@dataclass(frozen=True, slots=True)
class TaskWork:
    """One polled task in the steady phase, from its first and last status reply there."""

    segments_start: int  # the status view's segment_count
    segments_end: int
    status_bytes_start: int  # size of the status reply body
    status_bytes_end: int
    polls: int  # status replies for this task in the steady phase
    # Of those, replies showing fewer segments than one before them (0 in older results).
    stale_polls: int = 0


@dataclass(frozen=True, slots=True)
class WorkResult:
    """The work a run measured: what the scenario polled, seen through its replies."""

    target_segments: int  # the size polled tasks are pre-grown to (0: not pre-grown)
    ready_at_s: float | None  # when every polled task had first shown its target size
    steady_start_s: float | None  # the steady phase's start on the same (epoch) clock
    tasks: dict[str, TaskWork]
    # Requests served in the steady phase when one showed many tasks (the task list);
    # None: every task's status reply was a request of its own.
    requests: int | None = None
    # The scenario's tasks live their whole life in the run (loadtests.work).
    tasks_end_in_run: bool = False
    # The tab model (loadtests.work): tabs, connections they opened in total and the most
    # one tab opened; when every tab had a steady reply with the tasks ready (None: never,
    # or a scenario without tabs). All None in results of scenarios without tabs.
    tabs: int | None = None
    connections_opened: int | None = None
    connections_max_per_tab: int | None = None
    settled_at_s: float | None = None

    @property
    def ready(self) -> bool:
        return self.ready_at_s is not None


@dataclass(frozen=True, slots=True)
class LoadResult:
    schema_version: int
    scenario: str
    host: str
    users: int
    workers: int
    workers_reported: int
    warmup_s: float
    late_threshold_ms: float
    targets_per_s: dict[str, float]
    phases: dict[str, PhaseResult]
    generator: GeneratorStats
    exit_code: int = 0  # Locust's exit code, filled in by the runner
    path: str = ""
    work: WorkResult | None = None

    @property
    def total(self) -> PhaseResult:
        return self.phases["total"]

    @property
    def steady(self) -> PhaseResult:
        """Numbers for the measured phase only (requests intended after the warm-up)."""
        return self.phases["steady"]

    def problems(self, phase: str = "steady", tolerance: float = RATE_TOLERANCE) -> list[str]:
        """Why this run is not a valid measurement; empty when it is."""
        found: list[str] = []
        ph = self.phases[phase]
        for name, st in sorted(ph.streams.items()):
            if st.target_per_s and abs(st.achieved_ratio - 1.0) > tolerance:
                found.append(
                    f"{name}: achieved {st.achieved_per_s:.2f}/s of {st.target_per_s:.2f}/s"
                    f" (more than {tolerance:.0%} off)"
                )
        if self.workers_reported < self.workers:
            found.append(
                f"only {self.workers_reported} of {self.workers} workers sent their final counts"
            )
        if self.generator.saturated:
            found.append("load generator saturated (Locust warned about CPU above 90 %)")
        if ph.requests == 0:
            found.append(f"no requests in the {phase} phase")
        return found

    @property
    def valid(self) -> bool:
        return not self.problems()


def parse_result(doc: dict[str, Any], *, exit_code: int = 0, path: str = "") -> LoadResult:
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultFormatError(
            f"load result {path or '<dict>'} has schema_version {version!r},"
            f" expected {SCHEMA_VERSION}: rerun the scenario with this memdiag"
        )
    phases = {
        name: PhaseResult(
            duration_s=float(ph["duration_s"]),
            requests=int(ph["requests"]),
            failures=int(ph["failures"]),
            failures_by_name={str(k): int(v) for k, v in ph["failures_by_name"].items()},
            endpoints={k: EndpointStats(**v) for k, v in ph["endpoints"].items()},
            streams={k: StreamStats(**v) for k, v in ph["streams"].items()},
        )
        for name, ph in doc["phases"].items()
    }
    gen = doc["generator"]
    return LoadResult(
        schema_version=version,
        scenario=str(doc["scenario"]),
        host=str(doc["host"]),
        users=int(doc["users"]),
        workers=int(doc["workers"]),
        workers_reported=int(doc.get("workers_reported", doc["workers"])),
        warmup_s=float(doc["warmup_s"]),
        late_threshold_ms=float(doc["late_threshold_ms"]),
        targets_per_s={k: float(v) for k, v in doc["targets_per_s"].items()},
        phases=phases,
        generator=GeneratorStats(
            processes=tuple(ProcessStats(**p) for p in gen["processes"]),
            locust_cpu_warning=bool(gen["locust_cpu_warning"]),
        ),
        exit_code=exit_code,
        path=path,
        work=_work(doc.get("work")),
    )


def _work(doc: Any) -> WorkResult | None:
    if not isinstance(doc, dict):
        return None
    ready = doc.get("ready_at_s")
    conns = doc.get("connections")
    return WorkResult(
        target_segments=int(doc["target_segments"]),
        ready_at_s=None if ready is None else float(ready),
        steady_start_s=None if doc.get("steady_start_s") is None else float(doc["steady_start_s"]),
        tasks={str(k): TaskWork(**v) for k, v in doc["tasks"].items()},
        requests=None if doc.get("requests") is None else int(doc["requests"]),
        tasks_end_in_run=doc.get("tasks_end_in_run") is True,
        tabs=None if not conns else int(conns["tabs"]),
        connections_opened=None if not conns else int(conns["opened"]),
        connections_max_per_tab=None if not conns else int(conns["max_per_tab"]),
        settled_at_s=None if doc.get("settled_at_s") is None else float(doc["settled_at_s"]),
    )


def load_result(path: Path, *, exit_code: int = 0) -> LoadResult:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFormatError(f"No load result at {path}: did the scenario finish?") from None
    except json.JSONDecodeError as exc:
        raise ResultFormatError(f"Load result {path} is not JSON ({exc})") from None
    return parse_result(doc, exit_code=exit_code, path=str(path))
