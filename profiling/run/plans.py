"""What a measured run is asked to do: the load, the server, the schedule's jobs.

Plain frozen values shared by the runner (`profiling.run.runner`), the run's moving parts
(`profiling.run.state`) and the CLI options (`profiling.run.options`); their defaults
are the options' (`profiling.run.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loadtests.names import parse_scenario
from profiling.probes.memray_capture import MemrayOptions
from profiling.results.folder import PreflightFigures, RunResult, Scenario
from profiling.run.servers import Configuration
from profiling.run.settings import LoadSettings, ServerSettings

# The options' declared defaults (`profiling.run.settings`), the plans' defaults too.
_LOAD = LoadSettings()
_SERVER = ServerSettings()

PROFILES = ("none", "tracemalloc", "memray", "holders")


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """The load every configuration gets, identical across a comparison."""

    scenario: str | None = parse_scenario(_LOAD.scenario).module_name
    locustfile: Path | None = None
    users: int = 20
    rate_per_s: float = _LOAD.rate
    duration_s: float = _LOAD.duration
    warmup_s: float = _LOAD.warmup
    cooldown_s: float = _LOAD.cooldown
    processes: int = _LOAD.load_processes
    options: dict[str, str | int | float] = field(default_factory=dict)
    status_endpoint: str | None = None
    # The warm-up lasts until every polled task shows its target size, at most this much
    # longer than warmup_s; a run whose tasks never get there is invalid.
    ready_timeout_s: float = _LOAD.ready_timeout
    # What the pre-flight timed and chose (`profiling.run.preflight`), carried into the
    # run's record; None when it did not run (--no-preflight, a scenario it does not fit).
    preflight: PreflightFigures | None = None

    def record(self) -> Scenario:
        name = self.scenario or f"locustfile:{Path(self.locustfile or '').name}"
        params: dict[str, str | int | float | bool] = dict(self.options)
        if self.processes > 1:
            params["load_processes"] = self.processes
        return Scenario(
            name,
            self.rate_per_s,
            self.duration_s,
            self.warmup_s,
            self.cooldown_s,
            self.users,
            params,
        )


@dataclass(frozen=True, slots=True)
class ServerPlan:
    """How the reference server runs (ignored when attaching to a server)."""

    mongo_uri: str | None = None  # None: a fresh embedded DB per run, of `db_engine`
    db_engine: str | None = None  # "mongo-java" or "ferretdb"; None: MEMDIAG_DB_ENGINE or default
    driver: str | None = None
    workers: int | None = None
    processes: int = _SERVER.server_processes
    allocator: str | None = None  # "glibc", "jemalloc", "arenas=N"
    extra_args: tuple[str, ...] = ()
    sample_interval_s: float = _SERVER.sample_interval
    # The in-process memory agent (profiling/probes/agent) samples at sample_interval_s.
    agent: bool = not _SERVER.no_agent
    tracemalloc_frames: int = _SERVER.tracemalloc_frames
    # --profile holders: 0 leaves tracemalloc off
    holders_tracemalloc_frames: int = _SERVER.holders_tracemalloc_frames
    memray: MemrayOptions = field(default_factory=MemrayOptions)


@dataclass(frozen=True, slots=True)
class Attach:
    url: str
    pid: int
    db_pid: int | None = None
    # Offered to the server as MEMDIAG_METRICS_DIR when memdiag started it (the pytest
    # plugin's command=): its processes' /metrics are read there if they publish.
    metrics_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Job:
    config: Configuration
    repeat: int
    order: int
    profile: str = "none"
    load: LoadPlan = LoadPlan()
    sweep_param: str | None = None

    @property
    def folder_name(self) -> str:
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.config.label)
        suffix = "" if self.profile == "none" else f"-{self.profile}"
        return f"{self.order:02d}-{slug}-r{self.repeat}{suffix}"


class Progress:
    """What the runner tells a progress display (the CLI's is rich; this one is silent)."""

    def run_started(self, job: Job, total_s: float) -> None: ...
    def phase(self, name: str, elapsed_s: float) -> None: ...
    def run_finished(self, run: RunResult | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a schedule produced: the finished runs, and whether Ctrl-C ended it early."""

    runs: list[RunResult]
    interrupted: bool = False
