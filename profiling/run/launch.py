"""A run's first phases: start its database and the server under test.

`start_reference_server` starts a fresh embedded DB (unless the plan names a MongoDB URI) and the
reference server on it with what the job asks for (driver, processes, allocator,
tracemalloc's off-loop listener, the in-process agent, memray), writes
`processes.json`, and returns a frozen `Launched`: everything later phases need to
know about what was started. A configuration from a command is started by
`profiling.run.command_server.start_command_server` instead. A run that attaches to a
running server has a `Launched` of its URL and PIDs alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from profiling.artefacts import write_json
from profiling.probes.agentlog import AGENT_FOLDER, agent_env, opted_out
from profiling.probes.allocator import active_allocator, allocator_env, parse_choice, tuning_env
from profiling.probes.memray_capture import memray_command, memray_env
from profiling.run import whoholds
from profiling.run.embedded_db import EmbeddedDB
from profiling.run.plans import Job, ServerPlan
from profiling.run.servers import (
    Configuration,
    ReferenceServer,
    free_port,
    reference_server_args,
)

# What every started server leaves in its run folder (artifact name -> file).
SERVER_ARTIFACTS = {"server_log": "server.log", "processes": "processes.json"}


CONTROL_DIR = "control"  # the run's folder where runner and scenario exchange phase files
# The variable that tells a server where each of its processes publishes its own address
# (the reference server's --metrics-dir; a server of the user's own may honour it too).
METRICS_DIR_ENV = "MEMDIAG_METRICS_DIR"


def metrics_dir_of(run_dir: Path) -> Path:
    """Where a run's server processes publish their own addresses (profiling.probes.metricsum)."""
    return run_dir / CONTROL_DIR / "metrics"


def offer_metrics_dir(env: Mapping[str, str], run_dir: Path) -> tuple[dict[str, str], Path]:
    """`env` offering a server of the user's own the run's metrics folder, as the reference
    server is told it with --metrics-dir; and the folder."""
    metrics_dir = metrics_dir_of(run_dir)
    return {**env, METRICS_DIR_ENV: str(metrics_dir)}, metrics_dir


@dataclass(frozen=True, slots=True)
class Launched:
    """The server under test (and its DB) as a run started them, or attached to them."""

    url: str
    pid: int
    db_pid: int | None = None
    process: ReferenceServer | None = None  # None: attached, not started by the run
    processes: int = 1  # server processes the run started
    mongo_uri: str | None = None  # the DB the server used, when known
    db_label: str | None = None  # the embedded DB's engine and backend
    agent_dir: Path | None = None  # the in-process agent's folder; None: no agent
    # Where each process of a multi-process reference server publishes its own address,
    # so that /metrics is read from all of them (profiling.probes.metricsum).
    metrics_dir: Path | None = None
    # The server was offered `metrics_dir` (METRICS_DIR_ENV), not told to publish there:
    # one that publishes nothing (a server of the user's own) is read at its URL.
    metrics_optional: bool = False
    allocator: str | None = None  # "<asked>, active: <found>", when one was asked for
    debug_port: int | None = None  # the server's off-loop admin listener (tracemalloc)


def server_processes(config: Configuration, server: ServerPlan) -> int:
    """How many server processes a run of `config` starts (its own count first)."""
    return config.processes if config.processes is not None else server.processes


def start_reference_server(
    job: Job,
    run_dir: Path,
    server: ServerPlan,
    stack: contextlib.ExitStack,
    admin_token: str,
) -> Launched:
    """Start the job's DB and reference server, each stopped when `stack` unwinds."""
    if server.mongo_uri:
        mongo_uri, db_pid, db_label = server.mongo_uri, None, None
    else:
        db = stack.enter_context(EmbeddedDB(engine=server.db_engine))
        mongo_uri, db_pid, db_label = db.uri, db.pid, db.description
    extra = list(server.extra_args)
    # A configuration's own runtime options (`mode@driver=...+processes=N`) win over
    # the command's, so one schedule can set two drivers or process counts side by side.
    driver = job.config.driver or server.driver
    processes = server_processes(job.config, server)
    if driver:
        extra += ["--driver", driver]
    if server.workers:
        extra += ["--workers", str(server.workers)]
    metrics_dir = None
    if processes > 1:
        extra += ["--processes", str(processes)]
        metrics_dir = metrics_dir_of(run_dir)
        extra += ["--metrics-dir", str(metrics_dir)]
    debug_port = None
    if job.profile == "tracemalloc":
        extra += ["--tracemalloc-frames", str(server.tracemalloc_frames)]
        # The snapshots go to a listener thread, not through the event loop: under
        # tracemalloc the loop of a full-view design falls minutes behind the storm.
        debug_port = free_port()
        extra += ["--debug-port", str(debug_port)]
    database = f"memdiag_{uuid.uuid4().hex[:12]}"  # a fresh database per run
    args = reference_server_args(
        job.config,
        mongo_uri=mongo_uri,
        database=database,
        extra=extra,
        processes=processes,
    )
    env = dict(os.environ)
    allocator = job.config.allocator or server.allocator
    if allocator:
        env = allocator_env(parse_choice(allocator), env)
    env = tuning_env(job.config.tuning, env)
    if job.profile == "tracemalloc":
        # By environment, not argv: argv is in processes.json and in everyone's `ps`.
        env["MEMDIAG_ADMIN_TOKEN"] = admin_token
    agent_dir = None
    # A holders run needs the agent (it asks it who holds what), whatever --no-agent says.
    wanted = server.agent and job.profile != "memray" and not opted_out(os.environ)
    if wanted or job.profile == "holders":
        # memray is left alone: it hooks every allocation (and tracks pymalloc's own
        # arenas), so the agent would measure memray as much as the server.
        agent_dir = run_dir / AGENT_FOLDER
        env = agent_env(env, agent_dir, server.sample_interval_s)
    if job.profile == "holders":
        env = whoholds.holders_env(env, server.holders_tracemalloc_frames)
    if job.profile == "memray":
        capture = run_dir / "memray.bin"
        argv = memray_command(["-m", "reference_server", *args], capture, server.memray)
        env = memray_env(server.memray, env)
    else:
        argv = [sys.executable, "-m", "reference_server", *args]
    proc = stack.enter_context(ReferenceServer(argv, run_dir / "server.log", env=env))
    # What the process really runs with (a wrong LD_PRELOAD fails silently).
    active = f"{allocator}, active: {active_allocator(proc.pid)}" if allocator else None
    # Which processes this run started, so a crash or Ctrl-C can be checked for leftovers.
    write_processes(
        run_dir,
        {"server": proc.pid, "db": db_pid, "url": proc.url, "argv": argv, "allocator": active},
    )
    return Launched(
        url=proc.url,
        pid=proc.pid,
        db_pid=db_pid,
        process=proc,
        processes=processes,
        mongo_uri=mongo_uri,
        db_label=db_label,
        agent_dir=agent_dir,
        allocator=active,
        debug_port=debug_port,
        metrics_dir=metrics_dir,
    )


def write_processes(run_dir: Path, pids: dict[str, object]) -> None:
    """processes.json: which processes the run started (pids, URL, argv)."""
    write_json(run_dir / SERVER_ARTIFACTS["processes"], pids)
