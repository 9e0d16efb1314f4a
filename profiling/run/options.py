"""The measurement options of `memdiag measure`, `compare`, `sweep`, `ablate`, `bisect` and
`check` as argument groups, checked into the plans they build (`load_plan`,
`server_plan`), and the run folder they name (`output_dir`).

The options themselves are declared once, in `profiling.run.settings`: each has one
name in three spellings (`--rate`, field `rate`, env `MEMDIAG_RATE`); the environment
only supplies defaults, the command line wins.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from loadtests.names import FRONTEND_TABS, POLLING_STORM, parse_scenario
from loadtests.options import check_option
from profiling.errors import UsageError
from profiling.probes.allocator import parse_choice
from profiling.probes.memray_capture import MemrayOptions
from profiling.results.folder import RUNS_DIR
from profiling.run.embedded_db import resolve_engine
from profiling.run.runner import PROFILES, LoadPlan, ServerPlan
from profiling.run.settings import LoadSettings, ServerSettings, add_arguments, env_note

ENV_NOTE = env_note()


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, LoadSettings)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser, ServerSettings)


# What applies to every server a run starts, the reference server or a user's command.
OWN_SERVER_OPTIONS = ("sample_interval", "no_agent")


def add_own_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The server options of commands that measure only users' own servers (bisect,
    check): the sampling and the agent. The reference server's options (mode switches,
    DB engine, driver, processes ...) do not apply, so they are not listed; they take
    their defaults, so `server_plan` reads these settings as it reads compare's."""
    add_arguments(parser, ServerSettings, only=OWN_SERVER_OPTIONS, title="measuring your server")


def add_output_arguments(parser: argparse.ArgumentParser, *, profile: bool = True) -> None:
    g = parser.add_argument_group("output")
    g.add_argument(
        "-o", "--output", type=Path, help="run folder (default reports/<UTC time>-<name>)"
    )
    g.add_argument("--name", help="a name for the run folder and the report title")
    g.add_argument("--no-html", action="store_true", help="skip report.html")
    if profile:
        g.add_argument(
            "--profile",
            choices=PROFILES,
            default="none",
            help="add an attribution run per configuration under tracemalloc or "
            "memray, or 'holders': who holds the largest objects, asked late in the "
            "steady phase (never used for RSS verdicts)",
        )


def _options(items: Sequence[str]) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"-O {item!r}: write scenario options as KEY=VALUE, e.g. segments=3000"
            )
        number: str | int | float = value
        for kind in (int, float):
            try:
                number = kind(value)
                break
            except ValueError:
                continue
        out[key.strip().replace("-", "_")] = number
    return out


# Each user a tab (loadtests.pacing).
TAB_SCENARIOS = (POLLING_STORM.module_name, FRONTEND_TABS.module_name)


def default_users(
    rate_per_s: float,
    scenario: str | None = None,
    options: Mapping[str, str | int | float] | None = None,
) -> int:
    """The default Locust users of a scenario at `rate_per_s`.

    The tab scenarios model the incident's frontends: one tab per user polling once per
    `poll_interval_s` (default 1 s), so rate x interval tabs; each keeps its rate however
    slow the server by opening another connection when a poll is due while one is out,
    so no spare users are needed, and the connections the server holds are the tabs'.
    The other scenarios pace one global schedule over their users and need users >= rate
    x latency (db-polling answered in seconds on the embedded DB): max(50, 20 x rate).
    """
    if scenario in TAB_SCENARIOS:
        interval_s = float((options or {}).get("poll_interval_s", 1.0))
        return max(1, math.ceil(rate_per_s * interval_s - 1e-9))
    return max(50, math.ceil(rate_per_s * 20))


def load_plan(load: LoadSettings) -> LoadPlan:
    """The load a run is given, from the settings (`profiling.run.settings`), checked."""
    try:
        scenario = None if load.locustfile else parse_scenario(load.scenario).module_name
    except ValueError as exc:
        raise UsageError(f"--scenario {exc}") from None
    if load.locustfile is not None and not load.locustfile.is_file():
        raise UsageError(f"--locustfile {load.locustfile}: no such file")
    if load.rate <= 0 or load.duration <= 0 or load.warmup < 0 or load.cooldown < 0:
        raise UsageError("--rate and --duration must be > 0, --warmup and --cooldown >= 0")
    if load.ready_timeout < 0:
        raise UsageError(f"--ready-timeout {load.ready_timeout}: must be >= 0")
    if load.users is not None and load.users < 1:
        raise UsageError(f"--users {load.users}: need at least 1")
    if load.load_processes < 1:
        raise UsageError(f"--load-processes {load.load_processes}: need at least 1")
    options = _options(load.option)
    if scenario is not None:  # a user's own locustfile has options we cannot know
        for key, value in options.items():
            if (why := check_option(key, value)) is not None:
                raise UsageError(f"-O {key}={value}: {why}")
    return LoadPlan(
        scenario=scenario,
        locustfile=load.locustfile,
        users=load.users or default_users(load.rate, scenario, options),
        rate_per_s=load.rate,
        duration_s=load.duration,
        warmup_s=load.warmup,
        cooldown_s=load.cooldown,
        processes=load.load_processes,
        options=options,
        status_endpoint=load.status_endpoint,
        ready_timeout_s=load.ready_timeout,
    )


def server_plan(server: ServerSettings) -> ServerPlan:
    """How the server runs, from the settings (`profiling.run.settings`), checked."""
    if server.allocator is not None:
        try:
            parse_choice(server.allocator)
        except ValueError as exc:
            raise UsageError(f"--allocator: {exc}") from None
    if server.sample_interval <= 0:
        raise UsageError(f"--sample-interval {server.sample_interval}: must be > 0 seconds")
    for flag, value in (
        ("--workers", server.workers),
        ("--server-processes", server.server_processes),
        ("--tracemalloc-frames", server.tracemalloc_frames),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: need at least 1")
    if (frames := server.holders_tracemalloc_frames) < 0:
        raise UsageError(f"--holders-tracemalloc-frames {frames}: need 0 (off) or more")
    if server.mongo_uri and not server.mongo_uri.startswith(("mongodb://", "mongodb+srv://")):
        raise UsageError(f"--mongo-uri {server.mongo_uri!r} is not a mongodb:// URI")
    return ServerPlan(
        mongo_uri=server.mongo_uri,
        db_engine=resolve_engine(
            server.db_engine, option=server.origin.get("db_engine", "--db-engine")
        ),
        driver=server.driver,
        workers=server.workers,
        processes=server.server_processes,
        allocator=server.allocator,
        extra_args=tuple(server.server_arg),
        sample_interval_s=server.sample_interval,
        agent=not server.no_agent,
        tracemalloc_frames=server.tracemalloc_frames,
        holders_tracemalloc_frames=server.holders_tracemalloc_frames,
        memray=MemrayOptions(
            native=server.memray_native,
            trace_python_allocators=server.memray_trace_python_allocators,
        ),
    )


def output_dir(args: argparse.Namespace, default_name: str) -> Path:
    """The run folder: -o DIR (which must not hold runs already), else a fresh one."""
    if args.output is not None:
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            raise UsageError(f"-o {out} is a file; name a folder for the run")
        runs = out / RUNS_DIR
        if runs.is_dir() and any(runs.iterdir()):
            # The report covers every run in the folder: old ones would mix in.
            raise UsageError(f"-o {out} already holds runs; remove it or choose another folder")
        return out
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in (args.name or default_name))
    return Path("reports") / f"{stamp}-{slug}"
