"""The typed figures of one measured run (`RunResult`) and its parts, all frozen.

`profiling.results.folder` reads and writes them (run.json, summary.json); every other layer
(compare, gate, render) takes them as values. Units are in the field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from profiling.results.decompose import PartsPoint, RssBreakdown
from profiling.results.validate import Scalar

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Scenario:
    """The load a run was measured under; two runs compare only if these agree."""

    name: str  # built-in scenario ("polling-storm") or "locustfile:<path>"
    target_rate_per_s: float
    duration_s: float  # steady phase
    warmup_s: float
    cooldown_s: float = 0.0
    users: int | None = None
    params: dict[str, Scalar] = field(default_factory=dict)  # scenario-specific knobs

    def as_dict(self) -> dict[str, Scalar | None]:
        return {
            "name": self.name,
            "target_rate_per_s": self.target_rate_per_s,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "cooldown_s": self.cooldown_s,
            "users": self.users,
            **{f"params.{k}": v for k, v in sorted(self.params.items())},
        }


@dataclass(frozen=True, slots=True)
class ProcessMemory:
    """One process's memory over the steady phase."""

    kernel_peak_bytes: int | None  # VmHWM, reset after warm-up; None if unreadable
    sampled_peak_bytes: int
    final_bytes: int
    median_bytes: int
    # Least-squares slope over the steady phase, from the moment RSS settled when the run
    # knows it (RunResult.settled_after_s); None: RSS had not settled (rss_settled False).
    growth_mib_per_min: float | None
    samples: int
    cpu_percent: float | None = None  # of one core, averaged over the steady phase
    # The highest sampled PSS of the process tree (smaps_rollup, summed over the tree at
    # each tick); None when it was not read (a single-process server, older records).
    pss_peak_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class TreeProcess:
    """One process of a multi-process server over the steady phase (its last reading)."""

    pid: int
    role: str  # "main" (the process memdiag started or attached to) or "child"
    command: str  # its command line, shortened
    peak_rss_bytes: int  # its own VmHWM: since the steady phase's reset, or its start
    rss_bytes: int  # its RSS at its last steady reading


@dataclass(frozen=True, slots=True)
class EndpointLatency:
    """Latency from the intended send time (open model), steady phase only."""

    requests: int
    failures: int
    rps: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class LoadFigures:
    target_rate_per_s: float
    achieved_rate_per_s: float
    late_sends: int = 0
    saturated: bool = False  # Locust warned that the load generator's CPU was saturated


@dataclass(frozen=True, slots=True)
class CommandCount:
    commands: int
    reply_bytes: int


@dataclass(frozen=True, slots=True)
class DbFigures:
    """DB commands and reply bytes over the steady phase, scraped from /metrics."""

    commands_total: int
    reply_bytes_total: int
    status_polls: int
    reads_per_poll: float | None  # reads (find, getMore, ...) the status path sent, per poll
    commands_per_poll: float | None  # every command the server sent, per poll
    reply_bytes_per_poll: float | None  # reply bytes of the status path's commands, per poll
    by_command: dict[str, CommandCount] = field(default_factory=dict)
    # Every reply byte the server decoded from the DB per steady second (all traffic): how
    # much BSON it turned into Python objects, the incident's mechanism.
    reply_bytes_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class WorkFigures:
    """The work a run measured: the polled tasks as their status replies showed them in the
    steady phase (medians over the tasks), and the status polls served.

    Two runs measure their designs, not their work, only when these agree; with tasks that
    stay the same size, steady-phase RSS growth measures retention.
    """

    tasks: int  # polled tasks
    target_segments: int  # the size they were pre-grown to (0: not pre-grown)
    segments_start: float  # median over tasks of the status view's segment_count
    segments_end: float
    status_bytes_start: float  # median over tasks of the status reply's size
    status_bytes_end: float
    polls: int  # status replies in the steady phase, all polled tasks
    polls_per_s: float  # polls over the steady phase's seconds (the achieved poll rate)
    ready_after_s: float | None = None  # load start -> every task at its target size
    # Steady replies that showed fewer segments than one before them for the same task
    # (another server process's older copy); None in records made before it was counted.
    stale_polls: int | None = None
    # The scenario's tasks live their whole life in the run (task churn, uploads): their
    # sizes say where each was in its life; the tasks run are the work (comparable.py).
    tasks_end_in_run: bool = False
    # The server's open client TCP connections in the steady phase (sampled from /proc):
    # part of the work, since each idle keep-alive connection can hold its last reply.
    # None in records made before they were counted, or when not sampled.
    connections_max: int | None = None
    connections_mean: float | None = None
    # The load's browser tabs (the tab model: one keep-alive connection each at least,
    # more while a poll is pending); None for loads without tabs and older records.
    tabs: int | None = None

    @property
    def tab_connections(self) -> float | None:
        """The open connections the load set: the mean open connections, counted up to one
        per tab. A tab opens more only while a poll is pending (as a browser does), which
        is the design's slowness, not more work (profiling.verdict.comparable)."""
        if self.connections_mean is None:
            return None
        return self.connections_mean if self.tabs is None else min(self.connections_mean, self.tabs)

    @property
    def task_segments(self) -> float:
        """The size the run polled: the mean of the median task at start and end."""
        return (self.segments_start + self.segments_end) / 2.0

    @property
    def growth_pct(self) -> float | None:
        """How much the median task grew within the steady phase (None from 0 segments)."""
        if self.segments_start <= 0:
            return None
        return (self.segments_end / self.segments_start - 1.0) * 100.0


@dataclass(frozen=True, slots=True)
class DbCalibration:
    """How fast the DB a run used serves one task of the scenario's size, against the
    client's own decode of the same bytes (medians of `reads` reads after a warm-up).

    find_one by `_id` returning raw BSON is the DB's share plus the wire; a ratio far
    above 1 means the DB, not the server, sets the pace of a design that reads per poll.
    """

    engine: str  # "FerretDB 1.24.2", "mongo-java-server 1.47.0", "MongoDB 7.0.4"
    segments: int
    words_per_segment: int
    doc_bytes: int  # the task document's BSON size
    find_one_ms: float
    decode_ms: float  # bson.decode of the same bytes in the client
    reads: int

    @property
    def ratio(self) -> float | None:
        return self.find_one_ms / self.decode_ms if self.decode_ms > 0 else None


@dataclass(frozen=True, slots=True)
class PreflightFigures:
    """What the pre-flight (`profiling.run.preflight`) timed and chose before the run: the
    heaviest design's per-poll CPU on a task of the polled size, and its estimated share
    of one core at the run's poll rate. The same for every configuration of a run."""

    segments: int  # the polled task size the run used
    words_per_segment: int
    doc_bytes: int  # that task's BSON size
    decode_ms: float  # CPU ms of bson.decode, json.dumps and bson.encode of it
    dumps_ms: float
    encode_ms: float
    rate_per_s: float  # the status polls per second the estimate is for
    cpu_share: float  # estimated db-polling CPU, in cores (0.5 = half of one core)
    budget_share: float  # the share the fit aims under
    fitted: bool  # True: the size was chosen to fit; False: the user's size, checked
    text: str  # the line the command printed


@dataclass(frozen=True, slots=True)
class InFlight:
    """Status requests in flight over the steady phase, from the server's histogram
    `memdiag_status_in_flight` (observed as each status request starts, counting itself):
    how many decoded task documents db-polling may hold at once."""

    max_in_flight: int  # upper bound of the highest bucket that got an observation
    mean_in_flight: float  # sum / count of the observations
    polls: int  # observations: status requests started in the steady phase
    above_buckets: bool = False  # an observation fell above the last finite bucket


@dataclass(frozen=True, slots=True)
class HeapFigures:
    """Heap high-water mark beside RSS, from an attribution run or /debug."""

    heap_peak_bytes: int | None
    source: str  # "tracemalloc", "memray" or "debug"
    rss_at_heap_peak_bytes: int | None = None
    malloc_arenas: int | None = None
    malloc_trim_returned_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class RequestPeaks:
    """Per-request allocation peaks of one request kind, from a tracemalloc attribution
    run: the traced peak above each request's start (the server's /debug/memory)."""

    kind: str  # "list": the task-list request
    peaks_bytes: tuple[int, ...]  # one per request that overlapped no other, in order
    overlapped: int = 0  # requests that overlapped another, so have no peak of their own

    @property
    def median_bytes(self) -> float | None:
        ordered = sorted(self.peaks_bytes)
        n = len(ordered)
        if not n:
            return None
        return float(ordered[n // 2]) if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


@dataclass(frozen=True, slots=True)
class AllocationSite:
    location: str  # "file.py:123 in function" or memray's frame description
    size_bytes: int
    count: int
    source: str  # "tracemalloc-diff" or "memray"


@dataclass(frozen=True, slots=True)
class HolderGroup:
    """Large live objects of one type held the same way, from a `holders` attribution run:
    the chain of one of them, from the object (its type first) up to what roots it."""

    type_name: str  # "bytes"
    count: int
    total_bytes: int
    each_bytes_median: int
    chain: tuple[str, ...]  # "attribute `_body` of aiohttp.web_response.Response", ...
    key: tuple[str, ...]  # the chain's shape (no keys or indexes): compared across configs
    root: str
    allocated_at: tuple[str, ...] = ()  # "file.py:12", innermost first (under tracemalloc)


@dataclass(frozen=True, slots=True)
class Holders:
    """Who held the server's largest objects while the load ran (every server process)."""

    groups: tuple[HolderGroup, ...]  # largest total first, summed over the processes
    top_sites: tuple[AllocationSite, ...]  # live tracemalloc sites at that moment
    processes: int  # server processes that answered
    missing_pids: tuple[int, ...]  # processes that did not answer in time
    objects_scanned: int
    elapsed_s: float  # the slowest process's walk
    truncated: bool  # some process's walk was cut by its time budget


@dataclass(frozen=True, slots=True)
class Environment:
    host: str = ""
    cpu_count: int | None = None
    platform: str = ""
    python: str = ""
    git_commit: str = ""
    # "mongo-java-server 1.47.0 (embedded, memory backend)", "FerretDB (embedded, SQLite)"
    # or "MongoDB" (a --mongo-uri server)
    db_server: str = ""
    db_version: str = ""
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Phases:
    """Phase boundaries in seconds on the timeline's clock (t_s in rss.csv)."""

    steady_start_s: float
    steady_end_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Series:
    t_s: tuple[float, ...]
    rss_bytes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RunResult:
    """One measured (or attribution) run of one configuration."""

    configuration: str  # label in reports; "lean#2" for the second copy in an A/A run
    spec: str  # "mode[:switch=value,...]" or "url:<URL>" for an attached server
    repeat: int  # 1-based repeat index
    order: int  # position in the interleaved schedule
    profile: str  # "none", "tracemalloc", "memray" or "holders"; only "none" runs gate RSS
    started_at: str
    scenario: Scenario
    memory: dict[str, ProcessMemory]  # "server", "db", "loadgen"
    latency: dict[str, EndpointLatency]
    status_endpoint: str | None  # the key in `latency` that is the status poll
    load: LoadFigures
    valid: bool
    invalid_reasons: tuple[str, ...] = ()
    db: DbFigures | None = None
    loop_lag_p99_ms: float | None = None
    heap: HeapFigures | None = None
    top_sites: tuple[AllocationSite, ...] = ()
    artifacts: dict[str, str] = field(default_factory=dict)
    environment: Environment = field(default_factory=Environment)
    phases: Phases | None = None
    sweep_param: str | None = None  # the Scenario field or param a sweep varied
    # The host's 1-minute load average when the run started: on a shared machine it says
    # how much else competed for the CPUs.
    host_load_1m: float | None = None
    work: WorkFigures | None = None  # None: the load (a user's locustfile) reported none
    calibration: DbCalibration | None = None
    status_in_flight: InFlight | None = None
    # Entries each per-task structure of the reference server still held at the steady
    # phase's end (`memdiag_live_entries`); None for servers that do not expose them.
    live_entries: dict[str, int] | None = None
    # The list requests' allocation peaks in an attribution run (reference server under
    # tracemalloc); None for measured runs and servers that do not report them.
    request_peaks: RequestPeaks | None = None
    # What the pre-flight chose for the polling scenarios; None when it did not run.
    preflight: PreflightFigures | None = None
    # When RSS settled for a reason the run knows (every tab had a reply in the steady
    # phase, every polled task at size): seconds after the steady start, from which the
    # growth is fitted; `rss_settled` False when that left less than half the phase (no
    # growth then). Both None for loads that do not report tabs, and older records.
    settled_after_s: float | None = None
    rss_settled: bool | None = None
    # Who held the largest objects in a `holders` attribution run; None otherwise.
    holders: Holders | None = None
    # Each process of the server's tree when it had more than one; () otherwise.
    server_tree: tuple[TreeProcess, ...] = ()
    dir: str | None = None  # run folder relative to the summary; not stored in run.json
    timeline: dict[str, Series] = field(default_factory=dict)  # from rss.csv, not JSON
    # What made up the server's RSS in the steady phase, from the in-process agent; None
    # for runs without it (--no-agent, memray, attached servers, older records).
    rss_parts: RssBreakdown | None = None
    rss_parts_timeline: tuple[PartsPoint, ...] = ()  # from agent.csv, not JSON

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.latency.values())

    @property
    def failures(self) -> int:
        return sum(e.failures for e in self.latency.values())

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    @property
    def status(self) -> EndpointLatency | None:
        return self.latency.get(self.status_endpoint) if self.status_endpoint else None

    def sweep_value(self) -> Scalar | None:
        if self.sweep_param is None:
            return None
        if self.sweep_param in self.scenario.params:
            return self.scenario.params[self.sweep_param]
        value = getattr(self.scenario, self.sweep_param, None)
        return value if isinstance(value, str | int | float) else None
