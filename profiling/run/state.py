"""The moving parts of one measured run: server start-up, load, phases, attribution.

`RunState` holds what a run collects while it is measured (sampler, load result,
/metrics scrapes, heap figures, artifacts); `profiling.run.runner.measure_run` drives it
and freezes the result into a RunResult.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from loadtests.defaults import polled_task_size
from loadtests.results import LoadResult
from loadtests.runner import LoadRunError, LoadSpec, LoadSpecError, run_load
from profiling.artefacts import write_json, write_text
from profiling.errors import HarnessError, MemdiagError, UsageError
from profiling.probes.agentlog import AGENT_FOLDER, agent_env, opted_out
from profiling.probes.allocator import (
    active_allocator,
    allocator_env,
    parse_choice,
    tuning_env,
)
from profiling.probes.dbcalibrate import calibrate
from profiling.probes.debugclient import DebugClient, request_peaks
from profiling.probes.heapdiff import diff_files, include_patterns, render_text
from profiling.probes.memray_capture import (
    memray_command,
    memray_env,
    render_artifacts,
    summarize_capture,
)
from profiling.probes.metricsum import metrics_text, scrape_every
from profiling.probes.procmem import child_pids, descendant_pids
from profiling.probes.sampler import Sampler, Target
from profiling.results import figures
from profiling.results.decompose import RssBreakdown
from profiling.results.folder import (
    PARTS_FILE,
    AllocationSite,
    DbCalibration,
    HeapFigures,
    Holders,
    RequestPeaks,
)
from profiling.run import whoholds
from profiling.run.agent import collect
from profiling.run.command_server import start_command_server
from profiling.run.embedded_db import EmbeddedDB
from profiling.run.plans import Job, Progress, ServerPlan
from profiling.run.servers import Configuration, ReferenceServer, reference_server_args

CONTROL_DIR = "control"  # the run's folder where runner and scenario exchange phase files
STEADY_LEAD_S = 0.5


def _sleep_until(
    deadline: float, phase: str, start: float, progress: Progress, alive: Callable[[], None]
) -> None:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(0.25, left))
        progress.phase(phase, time.monotonic() - start)
        alive()


def _wait_ready(
    control: Path,
    timeout_s: float,
    start: float,
    progress: Progress,
    alive: Callable[[], None],
    thread: threading.Thread,
) -> float | None:
    """When the scenario said every polled task showed its target size (epoch s), or None."""
    deadline = time.monotonic() + timeout_s
    ready = control / "ready.json"
    while thread.is_alive():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return float(json.loads(ready.read_text(encoding="utf-8"))["ready_at_s"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
        progress.phase("warm-up: tasks growing", time.monotonic() - start)
        alive()
    return None


def _locust_child() -> int | None:
    for pid in child_pids(os.getpid()):
        with contextlib.suppress(OSError):
            if b"locust" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


def _find_locust(timeout_s: float, thread: threading.Thread) -> int | None:
    """PID of the Locust child process (started by loadtests.runner in `thread`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and thread.is_alive():
        if (pid := _locust_child()) is not None:
            return pid
        time.sleep(0.05)
    return None


def _wait_for_ramp(log: Path, timeout_s: float, thread: threading.Thread) -> float:
    """When Locust began spawning users (its run-time clock starts then)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and thread.is_alive():
        with contextlib.suppress(OSError):
            if "Ramping to" in log.read_text(encoding="utf-8", errors="replace"):
                return time.monotonic()
        time.sleep(0.05)
    return time.monotonic()


def stop_locust(pid: int | None) -> None:
    """Locust runs in a session of its own, so a terminal's Ctrl-C does not reach it."""
    pid = pid if pid is not None else _locust_child()  # interrupted before it was found
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, 15)


def server_processes(config: Configuration, server: ServerPlan) -> int:
    """How many server processes a run of `config` starts (its own count first)."""
    return config.processes if config.processes is not None else server.processes


class RunState:
    """The mutable state of one run while it is measured (the result is frozen at the end)."""

    def __init__(self, job: Job, run_dir: Path, progress: Progress) -> None:
        self.job = job
        self.run_dir = run_dir
        self.progress = progress
        self.reasons: list[str] = []
        # The user's own MEMDIAG_ADMIN_TOKEN when set (the server reads that variable too).
        self.admin_token = os.environ.get("MEMDIAG_ADMIN_TOKEN") or secrets.token_hex(16)
        self.locust_pid: int | None = None
        self.sampler: Sampler | None = None
        self.load: LoadResult | None = None
        self.load_error: BaseException | None = None
        self.metrics: tuple[str | None, str | None] = (None, None)
        self.heap: HeapFigures | None = None
        self.sites: tuple[AllocationSite, ...] = ()
        self.request_peaks: RequestPeaks | None = None
        self.artifacts: dict[str, str] = {}
        self.allocator: str | None = None
        self.mongo_uri: str | None = None  # the DB the server under test used, when known
        self.calibration: DbCalibration | None = None
        self.db_label: str | None = None  # the embedded DB's engine and backend
        # The in-process agent's folder (agent-<pid>.jsonl, holder requests); None: no agent.
        self.agent_dir: Path | None = None
        self.server_pid: int | None = None
        self.server_processes = 1
        self.rss_parts: RssBreakdown | None = None
        self.holders: Holders | None = None
        self.debug_port: int | None = None  # the server's off-loop admin listener
        # Where each process of a multi-process reference server publishes its own
        # address, so that /metrics is read from all of them (profiling.probes.metricsum).
        self.metrics_dir: Path | None = None

    def start_server(
        self, stack: contextlib.ExitStack, server: ServerPlan
    ) -> tuple[str, int, int | None, ReferenceServer]:
        if self.job.config.command is not None:  # a user's own server, from its command
            return start_command_server(self, stack, server)
        if server.mongo_uri:
            mongo_uri, db_pid = server.mongo_uri, None
        else:
            db = stack.enter_context(EmbeddedDB(engine=server.db_engine))
            mongo_uri, db_pid = db.uri, db.pid
            self.db_label = db.description
        self.mongo_uri = mongo_uri
        extra = list(server.extra_args)
        # A configuration's own runtime options (`mode@driver=...+processes=N`) win over
        # the command's, so one schedule can set two drivers or process counts side by side.
        driver = self.job.config.driver or server.driver
        processes = server_processes(self.job.config, server)
        if driver:
            extra += ["--driver", driver]
        if server.workers:
            extra += ["--workers", str(server.workers)]
        if processes > 1:
            extra += ["--processes", str(processes)]
            self.metrics_dir = self.run_dir / CONTROL_DIR / "metrics"
            extra += ["--metrics-dir", str(self.metrics_dir)]
        if self.job.profile == "tracemalloc":
            extra += ["--tracemalloc-frames", str(server.tracemalloc_frames)]
            # The snapshots go to a listener thread, not through the event loop: under
            # tracemalloc the loop of a full-view design falls minutes behind the storm.
            self.debug_port = _free_port()
            extra += ["--debug-port", str(self.debug_port)]
        database = f"memdiag_{uuid.uuid4().hex[:12]}"  # a fresh database per run
        args = reference_server_args(
            self.job.config,
            mongo_uri=mongo_uri,
            database=database,
            extra=extra,
            processes=processes,
        )
        env = dict(os.environ)
        allocator = self.job.config.allocator or server.allocator
        if allocator:
            env = allocator_env(parse_choice(allocator), env)
        env = tuning_env(self.job.config.tuning, env)
        if self.job.profile == "tracemalloc":
            # By environment, not argv: argv is in processes.json and in everyone's `ps`.
            env["MEMDIAG_ADMIN_TOKEN"] = self.admin_token
        # A holders run needs the agent (it asks it who holds what), whatever --no-agent says.
        wanted = server.agent and self.job.profile != "memray" and not opted_out(os.environ)
        if wanted or self.job.profile == "holders":
            # memray is left alone: it hooks every allocation (and tracks pymalloc's own
            # arenas), so the agent would measure memray as much as the server.
            self.agent_dir = self.run_dir / AGENT_FOLDER
            env = agent_env(env, self.agent_dir, server.sample_interval_s)
        if self.job.profile == "holders":
            env = whoholds.holders_env(env, server.holders_tracemalloc_frames)
        if self.job.profile == "memray":
            capture = self.run_dir / "memray.bin"
            argv = memray_command(["-m", "reference_server", *args], capture, server.memray)
            env = memray_env(server.memray, env)
        else:
            argv = [sys.executable, "-m", "reference_server", *args]
        proc = stack.enter_context(ReferenceServer(argv, self.run_dir / "server.log", env=env))
        self.server_pid = proc.pid
        self.server_processes = processes
        self.artifacts["server_log"] = "server.log"
        # Which processes this run started, so a crash or Ctrl-C can be checked for leftovers.
        if allocator:
            # What the process really runs with (a wrong LD_PRELOAD fails silently).
            self.allocator = f"{allocator}, active: {active_allocator(proc.pid)}"
        pids = {
            "schema_version": 1,
            "server": proc.pid,
            "db": db_pid,
            "url": proc.url,
            "argv": argv,
            "allocator": self.allocator,
        }
        write_json(self.run_dir / "processes.json", pids)
        self.artifacts["processes"] = "processes.json"
        return proc.url, proc.pid, db_pid, proc

    def drive(
        self,
        url: str,
        server_pid: int,
        db_pid: int | None,
        server: ServerPlan,
        children: bool,
        check: Callable[[], None],
    ) -> None:
        """Run the load and walk the phases, sampling all the while."""
        plan = self.job.load
        spec = LoadSpec(
            host=url.rstrip("/"),
            scenario=plan.scenario if plan.locustfile is None else None,
            locustfile=plan.locustfile,
            users=plan.users,
            rate_per_s=plan.rate_per_s,
            duration_s=plan.duration_s,
            warmup_s=plan.warmup_s,
            processes=plan.processes,
            options=dict(plan.options),
            control_dir=self.run_dir / CONTROL_DIR,
            ready_timeout_s=plan.ready_timeout_s,
        )
        try:
            spec.check()
        except LoadSpecError as exc:
            raise UsageError(str(exc)) from None

        def load() -> None:
            try:
                self.load = run_load(spec, self.run_dir)
            except BaseException as exc:  # reported by the main thread
                self.load_error = exc

        thread = threading.Thread(target=load, name="memdiag-load", daemon=True)
        thread.start()
        self.locust_pid = _find_locust(30.0, thread)
        # A tree's PSS is read at every tick: summed RSS counts its shared pages N times.
        targets = [Target("server", server_pid, children=children, connections=True, pss=children)]
        if db_pid is not None:
            targets.append(Target("db", db_pid))
        if self.locust_pid is not None:
            targets.append(Target("loadgen", self.locust_pid, children=True))
        self.sampler = Sampler(
            targets, self.run_dir / "rss.csv", interval_s=server.sample_interval_s
        )
        self.sampler.start()
        self.sampler.set_phase("warmup")
        t0 = _wait_for_ramp(self.run_dir / "locust.log", 30.0, thread)
        debug = None
        if self.job.profile == "tracemalloc":
            debug_url = f"http://127.0.0.1:{self.debug_port}" if self.debug_port else url
            # Off the loop the answer is bounded by the work, not a queue; but each hand-over
            # of the GIL to a loop busy in long C calls costs seconds (8.8 s measured for a
            # snapshot of a storm-saturated test server, against 60 s and no answer on the loop).
            debug = DebugClient(debug_url, self.admin_token, timeout_s=300.0)
        _sleep_until(t0 + plan.warmup_s, "warm-up", t0, self.progress, check)
        # The warm-up ends when every polled task has its target size, not at a fixed time:
        # designs that grow their tasks at different speeds are measured at the same size.
        control = self.run_dir / CONTROL_DIR
        ready_at_s = _wait_ready(control, plan.ready_timeout_s, t0, self.progress, check, thread)
        if ready_at_s is None and thread.is_alive():
            self.reasons.append(
                "the polled tasks did not all reach their target size within"
                f" {plan.warmup_s + plan.ready_timeout_s:.0f}s of warm-up"
            )
        # Locust reads the steady phase's bounds from this file; they lie a moment ahead
        # so that it sees them before the first request that counts.
        steady_epoch_s = time.time() + STEADY_LEAD_S
        steady = {"steady_start_s": steady_epoch_s, "stop_at_s": steady_epoch_s + plan.duration_s}
        write_json(control / "steady.json", steady)
        steady_start = time.monotonic() + STEADY_LEAD_S
        _sleep_until(steady_start, "warm-up", t0, self.progress, check)
        before = self._scrape(url)
        self.sampler.set_phase("steady", reset_peak=True)
        if debug is not None:
            # Snapshot, then reset: the phase's (and first request's) peak skips its pickling.
            debug.snapshot(self.run_dir / "steady-start.tracemalloc")
            debug.reset_peak()
        asked = None
        if self.job.profile == "holders":
            # While the load runs: the connections and requests still hold what they hold.
            at_s = whoholds.ask_at_s(steady_start, plan.duration_s)
            _sleep_until(at_s, "steady", t0, self.progress, check)
            asked = whoholds.ask(self.run_dir, server_pid)
        _sleep_until(steady_start + plan.duration_s, "steady", t0, self.progress, check)
        after = self._scrape(url)
        self.sampler.set_phase("cooldown")
        self.metrics = (before, after)
        for name, text in (("metrics_steady_start", before), ("metrics_steady_end", after)):
            if text is not None:
                (self.run_dir / f"{name.replace('_', '-')}.prom").write_text(text, encoding="utf-8")
                self.artifacts[name] = f"{name.replace('_', '-')}.prom"
        if debug is not None:
            self._tracemalloc(debug)
        if asked is not None:
            self.progress.phase("who holds it", time.monotonic() - t0)
            self.holders, problem = whoholds.collect(self.run_dir, asked, check)
            self.artifacts["holders"] = whoholds.HOLDERS_FILE
            if problem is not None:
                self.reasons.append(problem)
            self.sites = self.holders.top_sites
        end = steady_start + plan.duration_s + plan.cooldown_s
        _sleep_until(end, "cool-down", t0, self.progress, check)
        thread.join(timeout=max(60.0, plan.warmup_s + plan.duration_s))
        self.sampler.stop()
        if thread.is_alive():
            stop_locust(self.locust_pid)
            thread.join(timeout=20.0)
        self._calibrate()
        if isinstance(self.load_error, LoadRunError):
            raise HarnessError(str(self.load_error))
        if self.load_error is not None:
            raise self.load_error
        for name in ("load.json", "locust.log", "locust_stats.csv"):
            if (self.run_dir / name).is_file():
                self.artifacts[name.split(".")[0]] = name

    def _scrape(self, url: str) -> str | None:
        """The server's /metrics; of a multi-process server, every process's, summed."""
        if self.metrics_dir is None or self.server_pid is None:
            return metrics_text(url)
        pids = [self.server_pid, *descendant_pids(self.server_pid)]
        text, answered = scrape_every(self.metrics_dir, pids)
        if answered < self.server_processes:
            # Counters of some processes only would understate every DB figure per poll.
            print(
                f"memdiag: warning: /metrics of {answered} of {self.server_processes} server"
                " processes answered; the run has no DB figures",
                file=sys.stderr,
            )
            return None
        return text

    def collect_agent(self, interval_s: float) -> None:
        """The agent's lines -> agent.csv and the steady phase's RSS breakdown."""
        if self.agent_dir is None or self.server_pid is None or self.sampler is None:
            return
        # The sampler's steady phase (it ends after the closing /metrics scrape), so the
        # breakdown's peak is taken over the same span as the run's sampled peak.
        phases = figures.phases_of(self.sampler.samples())
        t0 = self.sampler.t0_epoch_s
        steady = (
            None
            if phases is None
            else (t0 + phases.steady_start_s, t0 + phases.steady_end_s + interval_s / 2)
        )
        self.rss_parts, problem = collect(
            self.agent_dir,
            self.run_dir,
            self.server_pid,
            self.server_processes,
            interval_s,
            steady,
            t0,
        )
        if problem is not None:
            # RSS was measured all the same: the run stays valid, without the breakdown.
            print(f"memdiag: warning: {problem}", file=sys.stderr)
        if (self.run_dir / PARTS_FILE).is_file():
            self.artifacts["rss_parts"] = PARTS_FILE

    def _calibrate(self) -> None:
        """Time a read of one task of the polled size on the run's DB, against the client's
        decode of it. After the load, so that the DB is warm (a fresh JVM is not after a
        few reads) and nothing else competes; a DB that is gone leaves no calibration."""
        plan = self.job.load
        size = polled_task_size(plan.scenario, plan.options) if plan.locustfile is None else None
        if self.mongo_uri is None or size is None:
            return
        self.progress.phase("calibrating the DB", 0.0)
        try:
            cal = calibrate(
                self.mongo_uri,
                segments=size[0],
                words_per_segment=size[1],
                warmup_reads=10,
                engine=self.db_label,
            )
        except MemdiagError as exc:
            self.reasons.append(f"the DB could not be calibrated after the run: {exc}")
            return
        self.calibration = DbCalibration(**dataclasses.asdict(cal))

    def _tracemalloc(self, debug: DebugClient) -> None:
        end = self.run_dir / "steady-end.tracemalloc"
        debug.snapshot(end)
        memory = debug.memory()
        diff = diff_files(
            self.run_dir / "steady-start.tracemalloc", end, include_patterns(["reference_server"])
        )
        write_text(self.run_dir / "heapdiff.json", diff.to_json())
        (self.run_dir / "heapdiff.txt").write_text(render_text(diff), encoding="utf-8")
        self.artifacts.update(heapdiff="heapdiff.json", heapdiff_text="heapdiff.txt")
        self.sites = figures.heapdiff_sites(diff)
        # After the steady phase (so it cannot disturb it): how much RSS the allocator
        # was holding that malloc_trim(0) can hand back -- the "RSS minus heap" gap.
        try:
            trim: dict[str, object] = debug.malloc_trim()
        except HarnessError as exc:  # jemalloc, or not glibc: no malloc_trim
            trim = {"error": str(exc)}
        write_json(self.run_dir / "debug-memory.json", {"memory": memory, "malloc_trim": trim})
        self.artifacts["debug_memory"] = "debug-memory.json"
        tm = memory.get("tracemalloc") or {}
        if (found := request_peaks(memory, "list")) is not None:
            self.request_peaks = RequestPeaks("list", *found)
        self.heap = HeapFigures(
            heap_peak_bytes=_int(tm.get("peak_bytes")),
            source="tracemalloc",
            malloc_arenas=_int(memory.get("malloc_arenas")),
            malloc_trim_returned_bytes=_int(trim.get("returned_bytes")),
        )

    def memray(self) -> None:
        capture = self.run_dir / "memray.bin"
        self.progress.phase("memray reports", 0.0)
        art = render_artifacts(capture, self.run_dir)
        summary = summarize_capture(capture)
        write_text(self.run_dir / "memray-summary.json", summary.to_json())
        for name, path in (
            ("memray_stats", art.stats_json),
            ("peak_flamegraph", art.peak_html),
            ("leaks_flamegraph", art.leaks_html),
            ("temporal_flamegraph", art.temporal_html),
        ):
            if path is not None:
                self.artifacts[name] = path.name
        self.artifacts["memray_summary"] = "memray-summary.json"
        self.sites = figures.memray_sites(summary)
        self.heap = HeapFigures(summary.peak_memory_bytes, "memray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
