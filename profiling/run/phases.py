"""The phases of a run once its server is up, each a function of what it needs.

    load_spec        the LoadSpec of the job's load against the server
    start_sampling   server, DB and load generator sampled into rss.csv, phase "warmup"
    wait_for_ramp    when Locust began spawning users: the run's clock starts then
    Clock            sleeps to a deadline, showing the phase and watching the processes
    warm_up          the fixed warm-up, then until every polled task has its target size
    begin_steady     hands the steady phase's bounds to the scenario; sleeps to its start
    scrape           a /metrics scrape (at the steady phase's start and end), of every
                     process of a multi-process server, summed
    save_metrics     the scrapes as .prom files
    end_load         Locust's end (stopped if it does not end by itself), sampling stopped

The runner and the scenario exchange the phases through files in the run's `control/`
folder: the scenario writes `ready.json` when its tasks are grown, the runner writes
`steady.json` with the steady phase's bounds.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtests.results import LoadResult
from loadtests.runner import Load, LoadRunError, LoadSpec, LoadSpecError
from profiling.artefacts import write_json, write_text
from profiling.errors import UsageError
from profiling.probes.metricsum import metrics_text, published_urls, scrape_every
from profiling.probes.procmem import descendant_pids
from profiling.probes.sampler import Sampler, Target
from profiling.run.launch import Launched
from profiling.run.plans import Job, LoadPlan, Progress

STEADY_LEAD_S = 0.5
RAMP_TIMEOUT_S = 30.0
STOP_GRACE_S = 20.0  # a load that outlived its run: from SIGTERM to SIGKILL
LOAD_FILES = ("load.json", "locust.log", "locust_stats.csv")


def load_spec(plan: LoadPlan, url: str, control: Path) -> LoadSpec:
    """The load of `plan` against `url`, its phases handed over in `control`."""
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
        control_dir=control,
        ready_timeout_s=plan.ready_timeout_s,
    )
    try:
        spec.check()
    except LoadSpecError as exc:
        raise UsageError(str(exc)) from None
    return spec


def check_loads(jobs: Sequence[Job]) -> None:
    """Each job's load as `load_spec` will check it when its run starts (a bad option, an
    uploads' missing audio folder), checked before the first run: UsageError naming it."""
    for job in jobs:
        try:
            load_spec(job.load, "http://127.0.0.1:1", Path("control"))
        except UsageError as exc:
            raise UsageError(f"{job.config.label} ({job.load.scenario}): {exc}") from None


def start_sampling(
    launched: Launched, loadgen_pid: int, children: bool, csv_path: Path, interval_s: float
) -> Sampler:
    """Sampling of the server (its process tree when `children`), its DB and the load
    generator, started in the warm-up phase."""
    # A tree's PSS is read at every tick: summed RSS counts its shared pages N times.
    targets = [Target("server", launched.pid, children=children, connections=True, pss=children)]
    if launched.db_pid is not None:
        targets.append(Target("db", launched.db_pid))
    targets.append(Target("loadgen", loadgen_pid, children=True))
    sampler = Sampler(targets, csv_path, interval_s=interval_s)
    sampler.start()
    sampler.set_phase("warmup")
    return sampler


def wait_for_ramp(log: Path, load: Load) -> float:
    """When Locust began spawning users (its run-time clock starts then), monotonic."""
    deadline = time.monotonic() + RAMP_TIMEOUT_S
    while time.monotonic() < deadline and load.running():
        with contextlib.suppress(OSError):
            if "Ramping to" in log.read_text(encoding="utf-8", errors="replace"):
                return time.monotonic()
        time.sleep(0.05)
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class Clock:
    """The run's clock from `t0` (monotonic): it tells `progress` the phase while it
    sleeps, and calls `alive` (which raises when a process of the run died) between naps."""

    t0: float
    progress: Progress
    alive: Callable[[], None]

    def phase(self, name: str) -> None:
        self.progress.phase(name, time.monotonic() - self.t0)

    def sleep_until(self, deadline: float, phase: str) -> None:
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(0.25, left))
            self.phase(phase)
            self.alive()


def warm_up(clock: Clock, plan: LoadPlan, control: Path, load: Load) -> str | None:
    """The warm-up: `plan.warmup_s`, then until the scenario says every polled task
    shows its target size (so designs that grow their tasks at different speeds are
    measured at the same size). Why the run is invalid when they never got there."""
    clock.sleep_until(clock.t0 + plan.warmup_s, "warm-up")
    if _wait_ready(control, plan.ready_timeout_s, clock, load) is None and load.running():
        return (
            "the polled tasks did not all reach their target size within"
            f" {plan.warmup_s + plan.ready_timeout_s:.0f}s of warm-up"
        )
    return None


def _wait_ready(control: Path, timeout_s: float, clock: Clock, load: Load) -> float | None:
    """When the scenario said every polled task showed its target size (epoch s), or None."""
    deadline = time.monotonic() + timeout_s
    ready = control / "ready.json"
    while load.running():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return float(json.loads(ready.read_text(encoding="utf-8"))["ready_at_s"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
        clock.phase("warm-up: tasks growing")
        clock.alive()
    return None


def begin_steady(clock: Clock, plan: LoadPlan, control: Path) -> float:
    """Write the steady phase's bounds for the scenario, then sleep until it starts;
    when it starts (monotonic)."""
    # Locust reads the steady phase's bounds from this file; they lie a moment ahead
    # so that it sees them before the first request that counts.
    steady_epoch_s = time.time() + STEADY_LEAD_S
    steady = {"steady_start_s": steady_epoch_s, "stop_at_s": steady_epoch_s + plan.duration_s}
    write_json(control / "steady.json", steady)
    start = time.monotonic() + STEADY_LEAD_S
    clock.sleep_until(start, "warm-up")
    return start


def scrape(launched: Launched) -> str | None:
    """The server's /metrics; of a multi-process server, every process's, summed."""
    if launched.metrics_dir is None:
        return metrics_text(launched.url)
    pids = [launched.pid, *descendant_pids(launched.pid)]
    published = published_urls(launched.metrics_dir).keys() & set(pids)
    if launched.metrics_optional and not published:
        return metrics_text(launched.url)  # a server that does not publish its processes
    text, answered = scrape_every(launched.metrics_dir, pids)
    # Every process the server was told to start, or every one that published.
    if answered < max(launched.processes, len(published)):
        # Counters of some processes only would understate every DB figure per poll.
        print(
            f"memdiag: warning: /metrics of {answered} of"
            f" {max(launched.processes, len(published))} server"
            " processes answered; the run has no DB figures",
            file=sys.stderr,
        )
        return None
    return text


def save_metrics(run_dir: Path, before: str | None, after: str | None) -> dict[str, str]:
    """The steady phase's two scrapes as .prom files; their artifacts."""
    artifacts = {}
    for name, text in (("metrics_steady_start", before), ("metrics_steady_end", after)):
        if text is not None:
            write_text(run_dir / f"{name.replace('_', '-')}.prom", text)
            artifacts[name] = f"{name.replace('_', '-')}.prom"
    return artifacts


def end_load(load: Load, sampler: Sampler, wait_s: float) -> LoadResult | LoadRunError:
    """Wait up to `wait_s` for Locust to end by itself, stop sampling, and stop Locust
    if it has not ended; its result, or why there is none."""
    outcome: LoadResult | LoadRunError | None
    try:
        outcome = load.wait(wait_s)
    except LoadRunError as exc:
        outcome = exc
    except subprocess.TimeoutExpired:
        outcome = None
    sampler.stop()
    if outcome is not None:
        return outcome
    load.stop(STOP_GRACE_S)
    try:
        return load.wait(0.0)
    except LoadRunError as exc:
        return exc
    except subprocess.TimeoutExpired:
        return LoadRunError(f"Locust (pid {load.pid}) did not stop; see {load.log_path}")


def load_artifacts(run_dir: Path) -> dict[str, str]:
    """The load's own files in the run folder (its result, log, Locust's stats)."""
    return {name.split(".")[0]: name for name in LOAD_FILES if (run_dir / name).is_file()}
