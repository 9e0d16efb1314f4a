"""One measured run's state while it is measured, and the order of its phases.

`RunState` holds what a run has started and collected so far; each phase is a function
of its own inputs that returns its part (`profiling.run.launch`: DB and server;
`profiling.run.phases`: load, sampling, warm-up, steady phase, the load's end;
`profiling.run.attribution`: what the profilers found), and `RunState` keeps each part
in one attribute set in one place. `profiling.run.runner.measure_run` calls it in order
and freezes the result into a RunResult.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from loadtests.defaults import polled_task_size
from loadtests.results import LoadResult
from loadtests.runner import LOG_NAME, Load, LoadRunError, start_load
from profiling.errors import HarnessError, MemdiagError, UsageError
from profiling.probes.dbcalibrate import calibrate
from profiling.probes.sampler import Sampler
from profiling.results import figures
from profiling.results.decompose import RssBreakdown
from profiling.results.folder import PARTS_FILE, DbCalibration
from profiling.run import attribution, phases, whoholds
from profiling.run.agent import collect
from profiling.run.attribution import Attribution
from profiling.run.command_server import start_command_server
from profiling.run.launch import CONTROL_DIR, SERVER_ARTIFACTS, Launched, start_reference_server
from profiling.run.plans import Attach, Job, Progress, ServerPlan
from profiling.run.subprocs import pid_alive


class RunState:
    """What one run has started and collected so far (frozen into a RunResult at the end).

    Each attribute after the inputs is set by one phase: `launched` by `start_server`
    or `attach`; `load`, `sampler`, `metrics`, `load_result`, `calibration` and (for
    tracemalloc and holders) `attribution` by `drive`; `rss_parts` by `collect_agent`;
    `attribution` by `memray` for memray runs. `reasons` (why the run is invalid) and
    `artifacts` (its files) grow along the way.
    """

    def __init__(self, job: Job, run_dir: Path, progress: Progress) -> None:
        self.job = job
        self.run_dir = run_dir
        self.progress = progress
        # The user's own MEMDIAG_ADMIN_TOKEN when set (the server reads that variable too).
        self.admin_token = os.environ.get("MEMDIAG_ADMIN_TOKEN") or secrets.token_hex(16)
        self.reasons: list[str] = []
        self.artifacts: dict[str, str] = {}
        self.launched: Launched | None = None
        self.load: Load | None = None
        self.sampler: Sampler | None = None
        self.metrics: tuple[str | None, str | None] = (None, None)  # at the steady phase's ends
        self.load_result: LoadResult | None = None
        self.calibration: DbCalibration | None = None
        self.attribution = Attribution()
        self.rss_parts: RssBreakdown | None = None

    def start_server(self, stack: contextlib.ExitStack, server: ServerPlan) -> Launched:
        """Start the job's server (and its DB), stopped when `stack` unwinds."""
        if self.job.config.command is not None:  # a user's own server, from its command
            launched = start_command_server(self.job, self.run_dir, server, stack)
        else:
            launched = start_reference_server(
                self.job, self.run_dir, server, stack, self.admin_token
            )
        self.launched = launched
        self.artifacts.update(SERVER_ARTIFACTS)
        return launched

    def attach(self, attach: Attach) -> Launched:
        """A server that runs already, by its URL and PIDs."""
        if not pid_alive(attach.pid):
            raise UsageError(f"--pid {attach.pid}: no such process")
        self.launched = Launched(
            attach.url,
            attach.pid,
            attach.db_pid,
            metrics_dir=attach.metrics_dir,
            metrics_optional=True,
        )
        return self.launched

    def drive(
        self, launched: Launched, server: ServerPlan, children: bool, check: Callable[[], None]
    ) -> None:
        """Run the load and walk the phases, sampling all the while; `check` raises when
        a process of the run died."""
        plan, run_dir = self.job.load, self.run_dir
        control = run_dir / CONTROL_DIR
        self.load = start_load(phases.load_spec(plan, launched.url, control), run_dir)
        self.sampler = phases.start_sampling(
            launched, self.load.pid, children, run_dir / "rss.csv", server.sample_interval_s
        )
        clock = phases.Clock(
            phases.wait_for_ramp(run_dir / LOG_NAME, self.load), self.progress, check
        )
        if (problem := phases.warm_up(clock, plan, control, self.load)) is not None:
            self.reasons.append(problem)
        steady_start = phases.begin_steady(clock, plan, control)
        self.metrics = self._steady(launched, self.sampler, clock, steady_start)
        clock.sleep_until(steady_start + plan.duration_s + plan.cooldown_s, "cool-down")
        wait_s = max(60.0, plan.warmup_s + plan.duration_s)
        outcome = phases.end_load(self.load, self.sampler, wait_s)
        self.calibration = self._calibrate()
        if isinstance(outcome, LoadRunError):
            raise HarnessError(str(outcome))
        self.load_result = outcome
        self.artifacts.update(phases.load_artifacts(run_dir))

    def _steady(
        self, launched: Launched, sampler: Sampler, clock: phases.Clock, start: float
    ) -> tuple[str | None, str | None]:
        """The steady phase from `start` (monotonic) with what an attribution run does at
        its start, late in it and after it; the /metrics scrapes at its two ends (also
        kept as .prom files)."""
        plan, run_dir, profile = self.job.load, self.run_dir, self.job.profile
        debug = None
        if profile == "tracemalloc":
            debug = attribution.tracemalloc_client(launched, self.admin_token)
        before = phases.scrape(launched)
        sampler.set_phase("steady", reset_peak=True)
        if debug is not None:
            attribution.tracemalloc_start(debug, run_dir)
        asked = None
        if profile == "holders":
            # While the load runs: the connections and requests still hold what they hold.
            clock.sleep_until(whoholds.ask_at_s(start, plan.duration_s), "steady")
            asked = whoholds.ask(run_dir, launched.pid)
        clock.sleep_until(start + plan.duration_s, "steady")
        after = phases.scrape(launched)
        sampler.set_phase("cooldown")
        self.artifacts.update(phases.save_metrics(run_dir, before, after))
        if debug is not None:
            self._attributed(attribution.tracemalloc_end(debug, run_dir))
        if asked is not None:
            clock.phase("who holds it")
            self._attributed(attribution.holders(run_dir, asked, clock.alive))
        return before, after

    def stop(self) -> None:
        """Stop what still runs of the load and the sampling (a run that failed)."""
        if self.load is not None:
            self.load.stop()
        if self.sampler is not None:
            self.sampler.stop()

    def collect_agent(self, interval_s: float) -> None:
        """The agent's lines -> agent.csv and the steady phase's RSS breakdown."""
        launched = self.launched
        if launched is None or launched.agent_dir is None or self.sampler is None:
            return
        # The sampler's steady phase (it ends after the closing /metrics scrape), so the
        # breakdown's peak is taken over the same span as the run's sampled peak.
        found = figures.phases_of(self.sampler.samples())
        t0 = self.sampler.t0_epoch_s
        steady = (
            None
            if found is None
            else (t0 + found.steady_start_s, t0 + found.steady_end_s + interval_s / 2)
        )
        self.rss_parts, problem = collect(
            launched.agent_dir,
            self.run_dir,
            launched.pid,
            launched.processes,
            interval_s,
            steady,
            t0,
        )
        if problem is not None:
            # RSS was measured all the same: the run stays valid, without the breakdown.
            print(f"memdiag: warning: {problem}", file=sys.stderr)
        if (self.run_dir / PARTS_FILE).is_file():
            self.artifacts["rss_parts"] = PARTS_FILE

    def memray(self) -> None:
        """The memray capture's reports (the server has exited and written it)."""
        self._attributed(attribution.memray(self.run_dir, self.progress))

    def _attributed(self, found: Attribution) -> None:
        self.attribution = found
        self.artifacts.update(found.artifacts)
        if found.problem is not None:
            self.reasons.append(found.problem)

    def _calibrate(self) -> DbCalibration | None:
        """Time a read of one task of the polled size on the run's DB, against the client's
        decode of it. After the load, so that the DB is warm (a fresh JVM is not after a
        few reads) and nothing else competes; a DB that is gone leaves no calibration."""
        plan = self.job.load
        size = polled_task_size(plan.scenario, plan.options) if plan.locustfile is None else None
        launched = self.launched
        if launched is None or launched.mongo_uri is None or size is None:
            return None
        self.progress.phase("calibrating the DB", 0.0)
        try:
            cal = calibrate(
                launched.mongo_uri,
                segments=size[0],
                words_per_segment=size[1],
                warmup_reads=10,
                engine=launched.db_label,
            )
        except MemdiagError as exc:
            self.reasons.append(f"the DB could not be calibrated after the run: {exc}")
            return None
        return DbCalibration(**dataclasses.asdict(cal))
