"""The experiment runner: one measured run, and an interleaved schedule of them.

A run (`measure_run`) starts a fresh embedded DB and the reference server (or attaches
to a running server by URL and PID), starts the load (Locust in its own process via
`loadtests.runner`), samples server, DB and load generator (`profiling.probes`),
and walks the phases:

    warm-up   load runs, nothing counts
    steady    VmHWM reset at its start; /metrics scraped at both ends; measured
    cool-down load stopped, sampling goes on for --cooldown seconds

then writes `run.json` beside the raw files in the run's folder. Attribution runs add
tracemalloc snapshots at the steady phase's ends (through the admin /debug routes), run
the server under `memray run`, or ask its in-process agent who holds its largest objects
(`profiling.run.whoholds`); their figures never gate RSS.

`run_schedule` measures every configuration `repeat` times interleaved (A B C A B C),
then one attribution run per configuration if asked. Ctrl-C stops the servers and the
load, leaves `INTERRUPTED` in the unfinished run's folder, and returns what finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from profiling.artefacts import write_text
from profiling.errors import HarnessError, UsageError
from profiling.probes.dbevidence import db_evidence, parse_metrics
from profiling.results import figures, settle
from profiling.results.folder import (
    RUN_FILE,
    RUNS_DIR,
    Environment,
    LoadFigures,
    RunResult,
    load_run,
    run_json,
)
from profiling.run import environment
from profiling.run.command_server import locustfile_rate_problem
from profiling.run.embedded_db import EmbeddedDB
from profiling.run.launch import server_processes
from profiling.run.plans import PROFILES, Attach, Job, LoadPlan, Outcome, Progress, ServerPlan
from profiling.run.servers import Configuration
from profiling.run.state import RunState
from profiling.run.subprocs import pid_alive

__all__ = [
    "PROFILES",
    "Attach",
    "Job",
    "LoadPlan",
    "Outcome",
    "Progress",
    "ServerPlan",
    "measure_run",
    "run_schedule",
    "schedule",
]


def schedule(
    configs: Sequence[Configuration],
    repeat: int,
    load: LoadPlan,
    *,
    profile: str = "none",
    sweep_param: str | None = None,
    start_order: int = 1,
) -> list[Job]:
    """A B C A B C ... then one attribution run per configuration when `profile` is set."""
    jobs: list[Job] = []
    for r in range(1, repeat + 1):
        for config in configs:
            jobs.append(Job(config, r, start_order + len(jobs), "none", load, sweep_param))
    if profile != "none":
        for config in configs:
            jobs.append(Job(config, 1, start_order + len(jobs), profile, load, sweep_param))
    return jobs


def run_schedule(
    jobs: Sequence[Job],
    out_dir: Path,
    server: ServerPlan,
    *,
    attach: Attach | None = None,
    progress: Progress | None = None,
    resume: bool = False,
) -> Outcome:
    """Measure every job in order. A run that fails (a server that never came up or died,
    Locust crashing, the DB dying) is kept as an invalid run with its reason and the
    schedule goes on; Ctrl-C ends it, keeping the runs that finished. With `resume`, a
    job whose run `out_dir` already holds is taken as it was measured (`finished_run`)."""
    done: list[RunResult] = []
    own = all(job.config.command is not None for job in jobs)  # users' servers: no DB
    env = _environment(server, attach if attach is not None or not own else Attach("", 0))
    for job in jobs:
        if resume and (earlier := finished_run(job, out_dir)) is not None:
            if progress is not None:
                progress.run_finished(earlier)
            done.append(earlier)
            continue
        try:
            run = measure_run(job, out_dir, server, attach=attach, progress=progress, env=env)
        except KeyboardInterrupt:
            return Outcome(done, interrupted=True)
        # No HarnessError reaches here: measure_run records such a run as invalid.
        done.append(run)
    return Outcome(done)


def finished_run(job: Job, out_dir: Path) -> RunResult | None:
    """The run `job` names, if `out_dir` holds it measured (its run.json, valid or not);
    None when it is still to measure, after clearing what an interrupted run left there.
    A run of another configuration, repeat, profile or scenario option under that name
    is refused: the folder was made by another command."""
    run_dir = out_dir / RUNS_DIR / job.folder_name
    if not (run_dir / RUN_FILE).is_file():
        if run_dir.is_dir():
            shutil.rmtree(run_dir)  # an interrupted run's partial files
        return None
    run = load_run(run_dir)
    params = {k: str(v) for k, v in run.scenario.params.items()}
    wanted = {k: str(v) for k, v in job.load.options.items() if k in params}
    found = (run.configuration, run.repeat, run.profile, {k: params[k] for k in wanted})
    if found != (job.config.label, job.repeat, job.profile, wanted):
        raise UsageError(
            f"{run_dir} holds {run.configuration} r{run.repeat} ({run.profile}, {params}), "
            f"not {job.config.label} r{job.repeat} ({job.profile}, {wanted}): resume with "
            "the command that made the folder"
        )
    return replace(run, dir=f"{RUNS_DIR}/{job.folder_name}")


def _environment(server: ServerPlan, attach: Attach | None) -> Environment:
    if attach is not None:
        return environment.environment(db_server="", db_version="")
    if server.mongo_uri:
        kind, version = environment.db_version(server.mongo_uri)
        return environment.environment(db_server=kind or "MongoDB", db_version=version)
    with EmbeddedDB(engine=server.db_engine) as db:
        db_server, version = environment.embedded_db_identity(db)
    return environment.environment(db_server=db_server, db_version=version)


def measure_run(
    job: Job,
    out_dir: Path,
    server: ServerPlan,
    *,
    attach: Attach | None = None,
    progress: Progress | None = None,
    env: Environment | None = None,
) -> RunResult:
    """One run of `job` into `out_dir/runs/<folder>/`; see the module docstring."""
    progress = progress or Progress()
    if job.profile not in PROFILES:
        raise UsageError(f"--profile {job.profile!r}: use one of {', '.join(PROFILES)}")
    if attach is not None and job.profile != "none":
        raise UsageError("--profile needs the reference server; it cannot attach to --pid")
    run_dir = out_dir / RUNS_DIR / job.folder_name
    run_dir.mkdir(parents=True, exist_ok=True)
    plan = job.load
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    load_1m = round(os.getloadavg()[0], 2)
    progress.run_started(job, plan.warmup_s + plan.duration_s + plan.cooldown_s)
    state = RunState(job, run_dir, progress)
    watched: dict[str, int] = {}  # processes this run started, by what they are
    deaths: list[str] = []  # what had died when the run ended early

    def dead(*, loadgen: bool = False) -> str | None:
        """What died of the run's own processes (a probe error often follows from it).
        Locust ends by itself at the end of the load (and then has written its result),
        so it counts only after an error, and only when it left no result."""
        finished = (run_dir / "load.json").is_file()
        if loadgen and state.load is not None and not finished:
            watched.setdefault("the load generator (Locust)", state.load.pid)
        return next((what for what, pid in watched.items() if not pid_alive(pid)), None)

    try:
        with contextlib.ExitStack() as stack:
            if attach is not None:
                launched = state.attach(attach)
            else:
                launched = state.start_server(stack, server)
                watched["the server"] = launched.pid
                if launched.db_pid is not None:
                    watched["the embedded DB"] = launched.db_pid
                # Runs before the server and DB are stopped (the stack unwinds in reverse).
                stack.callback(lambda: deaths.append(dead(loadgen=True) or ""))
            proc = launched.process

            def check() -> None:
                if (
                    proc is not None
                    and proc.process is not None
                    and proc.process.poll() is not None
                ):
                    raise HarnessError(
                        f"the server exited with {proc.process.returncode} during the run; "
                        f"see {run_dir / 'server.log'}"
                    )
                if (what := dead()) is not None:
                    raise HarnessError(f"{what} died during the run")

            # A command may fork its server (a shell, gunicorn): measure its whole tree.
            tree = server_processes(job.config, server) > 1 or job.config.command is not None
            state.drive(launched, server, tree, check)
            check()
            if proc is not None:
                proc.stop()  # memray writes its capture on a clean exit
        state.collect_agent(server.sample_interval_s)  # the server has written its last line
        if job.profile == "memray":
            state.memray()
    except HarnessError as exc:
        # The load generator, the server or the DB died, or one never came up: this run
        # is recorded invalid with the reason, and a schedule goes on with the next one.
        state.stop()
        reason = str(exc)
        if deaths and deaths[0] and deaths[0] not in reason:
            reason = f"{deaths[0]} died during the run ({reason})"
        failed = _failed_run(state, started_at, env or Environment(), reason, load_1m)
        write_text(run_dir / RUN_FILE, run_json(failed))
        progress.run_finished(failed)
        return replace(failed, dir=f"{RUNS_DIR}/{job.folder_name}")
    except BaseException:
        state.stop()
        (run_dir / "INTERRUPTED").write_text(
            "This run did not finish (Ctrl-C or an error); it is not in the summary.\n"
        )
        progress.run_finished(None)
        raise
    run = _assemble(state, started_at, env or Environment(), attach, load_1m)
    write_text(run_dir / RUN_FILE, run_json(run))
    progress.run_finished(run)
    return replace(run, dir=f"{RUNS_DIR}/{job.folder_name}")


def _failed_run(
    state: RunState, started_at: str, env: Environment, reason: str, load_1m: float
) -> RunResult:
    """The record of a run that could not be measured: no figures, invalid, and why."""
    job, plan = state.job, state.job.load
    return RunResult(
        configuration=job.config.label,
        spec=job.config.spec,
        repeat=job.repeat,
        order=job.order,
        profile=job.profile,
        started_at=started_at,
        scenario=plan.record(),
        memory={},
        latency={},
        status_endpoint=None,
        load=LoadFigures(target_rate_per_s=plan.rate_per_s, achieved_rate_per_s=0.0),
        valid=False,
        invalid_reasons=(f"the run failed: {reason}",),
        artifacts={k: v for k, v in state.artifacts.items() if (state.run_dir / v).is_file()},
        environment=env,
        sweep_param=job.sweep_param,
        host_load_1m=load_1m,
        preflight=plan.preflight,
    )


def _assemble(
    state: RunState, started_at: str, env: Environment, attach: Attach | None, load_1m: float
) -> RunResult:
    job, plan = state.job, state.job.load
    load, found = state.load_result, state.attribution
    assert load is not None and state.sampler is not None
    samples = state.sampler.samples()
    phases = figures.phases_of(samples)
    settled = settle.settled_from(load, phases, plan.duration_s)
    memory = {}
    for label in ("server", "db", "loadgen"):
        figures_ = figures.process_memory(samples, label, settled=settled)
        if figures_ is not None:
            memory[label] = figures_
    reasons = list(state.reasons) + load.problems()
    if job.config.command is not None and (why := locustfile_rate_problem(load, plan)):
        reasons.append(why)
    work = figures.work_figures(load, settle.connection_figures(samples))
    if (
        short := figures.served_short(plan.scenario, plan.rate_per_s, plan.duration_s, work)
    ) is not None:
        reasons.append(short)
    if "server" in state.sampler.gone:
        reasons.append("the server process disappeared while it was sampled")
    if "server" not in memory:
        reasons.append("no steady-phase samples of the server")
    latency = figures.latency(load)
    before, after = state.metrics
    db = lag = None
    if before is not None and after is not None:
        # A multi-process server's scrapes are the sums over its processes; a counter
        # that went down (a process restarted) leaves the run without DB figures.
        with contextlib.suppress(HarnessError):
            db = figures.db_figures(
                db_evidence(parse_metrics(before), parse_metrics(after)), plan.duration_s
            )
        lag = figures.histogram_quantile_ms(before, after, 0.99)
    spec = job.config.spec if attach is None else f"url:{attach.url}"
    if state.launched is not None and state.launched.allocator:
        spec += f" [allocator {state.launched.allocator}]"
    return RunResult(
        configuration=job.config.label,
        spec=spec,
        repeat=job.repeat,
        order=job.order,
        profile=job.profile,
        started_at=started_at,
        scenario=plan.record(),
        memory=memory,
        latency=latency,
        status_endpoint=figures.status_endpoint(latency, plan.status_endpoint),
        load=figures.load_figures(load, plan.rate_per_s),
        valid=not reasons,
        invalid_reasons=tuple(reasons),
        db=db,
        loop_lag_p99_ms=None if lag is None else round(lag, 3),
        heap=found.heap,
        top_sites=found.sites,
        artifacts=state.artifacts,
        environment=env,
        phases=phases,
        sweep_param=job.sweep_param,
        host_load_1m=load_1m,
        work=work,
        settled_after_s=None if settled is None else settled.after_s,
        rss_settled=None if settled is None else settled.settled,
        calibration=state.calibration,
        status_in_flight=figures.in_flight(before, after) if before and after else None,
        live_entries=figures.live_entries(after) if after else None,
        request_peaks=found.request_peaks,
        rss_parts=state.rss_parts,
        preflight=plan.preflight,
        holders=found.holders,
        server_tree=figures.tree_processes(state.sampler.members("server")),
    )
