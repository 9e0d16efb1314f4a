"""Options shared by `memdiag measure`, `compare`, `sweep` and `ablate`, and the plans
they build (`load_plan`, `server_plan`) and the run folder they name (`output_dir`).

Each option has one name in three spellings: `--rate`, field `rate`, env `MEMDIAG_RATE`;
the environment only supplies defaults, the command line wins.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from loadtests.options import check_option
from loadtests.runner import SCENARIOS
from profiling.errors import UsageError
from profiling.probes.allocator import parse_choice
from profiling.probes.memray_capture import MemrayOptions
from profiling.results.folder import RUNS_DIR
from profiling.run.embedded_db import resolve_engine
from profiling.run.runner import PROFILES, LoadPlan, ServerPlan

T = TypeVar("T")
ENV_NOTE = (
    "Defaults come from MEMDIAG_SCENARIO, MEMDIAG_USERS, MEMDIAG_RATE, MEMDIAG_DURATION, "
    "MEMDIAG_WARMUP, MEMDIAG_COOLDOWN, MEMDIAG_READY_TIMEOUT, MEMDIAG_MONGO_URI, "
    "MEMDIAG_NO_AGENT and MEMDIAG_NO_PREFLIGHT when set."
)
DEFAULT_SCENARIO = "polling-storm"


def _env(name: str, default: T, kind: Callable[[str], T]) -> T:
    raw = os.environ.get(f"MEMDIAG_{name}")
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(
            f"MEMDIAG_{name}={raw!r} is not a valid value; unset it or fix it"
        ) from None


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("load (identical for every configuration)")
    names = ", ".join(s.replace("_", "-") for s in SCENARIOS)
    g.add_argument(
        "--scenario",
        default=None,
        help=f"built-in scenario: {names} (default {DEFAULT_SCENARIO})",
    )
    g.add_argument("--locustfile", type=Path, help="your own locustfile instead of a scenario")
    g.add_argument(
        "--users",
        type=int,
        default=None,
        help="Locust users; in polling-storm and frontend-tabs each is a browser tab on its own"
        " keep-alive connection(s), polling every users / rate seconds so the rate is kept"
        " (default rate x poll_interval_s, -O poll_interval_s=1: a tab polls once a second;"
        " other scenarios: max(50, 20 x rate))",
    )
    g.add_argument(
        "--rate",
        type=float,
        default=None,
        help="target arrival rate of the main stream per second (default 10)",
    )
    g.add_argument(
        "--duration",
        type=float,
        default=None,
        help="steady (measured) seconds (default 30)",
    )
    g.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="warm-up seconds, discarded (default 30: the full-view designs' RSS takes about"
        " 20 s of load to reach its plateau; steady growth after it measures retention)",
    )
    g.add_argument(
        "--cooldown",
        type=float,
        default=None,
        help="seconds sampled after the load stops (default 3)",
    )
    g.add_argument(
        "--ready-timeout",
        type=float,
        default=None,
        help="seconds the warm-up may run past --warmup until every polled task shows its"
        " target size; a run whose tasks never get there is invalid (default 120)",
    )
    g.add_argument(
        "--load-processes",
        type=int,
        default=1,
        help="Locust processes (--processes); the total rate stays the target",
    )
    g.add_argument(
        "-O",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario option, e.g. -O segments=3000 -O view=summary (repeatable)",
    )
    g.add_argument(
        "--no-preflight",
        action="store_true",
        default=None,
        help="skip the pre-flight, which times db-polling's per-poll work here and fits the"
        " polling scenarios' task size to it (or refuses a fixed size it cannot serve)",
    )
    g.add_argument(
        "--status-endpoint",
        help="the request name of the status poll in the "
        "load results (default: 'GET /api/tasks/{id}' or the busiest GET)",
    )


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("reference server and database")
    g.add_argument(
        "--mongo-uri",
        default=None,
        help="a MongoDB server to use (a fresh database per run); default: a "
        "fresh embedded DB per run",
    )
    g.add_argument(
        "--db-engine",
        default=None,
        help="the embedded DB: mongo-java (mongo-java-server, default) or ferretdb "
        "(env MEMDIAG_DB_ENGINE)",
    )
    g.add_argument("--driver", choices=["motor", "pymongo-async"], help="the server's DB driver")
    g.add_argument("--workers", type=int, help="the server's task worker threads")
    g.add_argument(
        "--server-processes",
        type=int,
        default=1,
        help="server processes sharing the port (SO_REUSEPORT)",
    )
    g.add_argument("--allocator", help="glibc, jemalloc or arenas=N (MALLOC_ARENA_MAX)")
    g.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for python -m reference_server (repeatable)",
    )
    _add_sampling_arguments(g)
    g.add_argument("--tracemalloc-frames", type=int, default=25)
    g.add_argument(
        "--holders-tracemalloc-frames",
        type=int,
        default=0,
        help="--profile holders: trace allocations with N frames, for allocation sites "
        "(default 0: off; even 1 frame makes a 1 MB json.dumps 5x slower, so a poll-heavy "
        "design may no longer keep up with the load)",
    )
    g.add_argument("--memray-native", action="store_true", help="memray --native")
    g.add_argument("--memray-trace-python-allocators", action="store_true")


def _add_sampling_arguments(g: argparse._ArgumentGroup) -> None:
    """What applies to every server a run starts: the reference server or a command."""
    g.add_argument(
        "--sample-interval",
        type=float,
        default=0.5,
        help="RSS sampling interval in seconds (default 0.5 = 2 Hz)",
    )
    g.add_argument(
        "--no-agent",
        action="store_true",
        default=None,
        help="do not inject memdiag's in-process memory agent into the server (it splits"
        " RSS into Python objects, allocator free memory, mmapped and file-backed parts;"
        " env MEMDIAG_NO_AGENT=1)",
    )


def add_own_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The server options of commands that measure only users' own servers (bisect,
    check): the sampling and the agent. The reference server's options (mode switches,
    DB engine, driver, processes ...) do not apply, so they are not listed; they keep
    their defaults, so `server_plan` reads these arguments as it reads compare's."""
    _add_sampling_arguments(parser.add_argument_group("measuring your server"))
    full = argparse.ArgumentParser(add_help=False)
    add_server_arguments(full)
    own = {"sample_interval", "no_agent"}
    parser.set_defaults(**{k: v for k, v in vars(full.parse_args([])).items() if k not in own})


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


TAB_SCENARIOS = ("polling_storm", "frontend_tabs")  # each user a tab (loadtests.pacing)


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


def _resolve_env_defaults(args: argparse.Namespace) -> None:
    """Options left out take MEMDIAG_<NAME> from the environment, then the default.

    Resolved here rather than when the parser is built, so a bad variable fails only the
    command that reads it, with a one-line message.
    """
    defaults: dict[str, tuple[str, object, Callable[[str], object]]] = {
        "scenario": ("SCENARIO", DEFAULT_SCENARIO, str),
        "users": ("USERS", None, int),
        "rate": ("RATE", 10.0, float),
        "duration": ("DURATION", 30.0, float),
        "warmup": ("WARMUP", 30.0, float),
        "cooldown": ("COOLDOWN", 3.0, float),
        "ready_timeout": ("READY_TIMEOUT", 120.0, float),
        "mongo_uri": ("MONGO_URI", None, str),
        "no_agent": ("NO_AGENT", False, _flag),
        "no_preflight": ("NO_PREFLIGHT", False, _flag),
    }
    for field_name, (env_name, default, kind) in defaults.items():
        if hasattr(args, field_name) and getattr(args, field_name) is None:
            setattr(args, field_name, _env(env_name, default, kind))


def load_plan(args: argparse.Namespace) -> LoadPlan:
    _resolve_env_defaults(args)
    scenario = None if args.locustfile else args.scenario.replace("-", "_")
    if scenario is not None and scenario not in SCENARIOS:
        names = ", ".join(s.replace("_", "-") for s in SCENARIOS)
        raise UsageError(f"--scenario {args.scenario!r} is not a scenario; use one of {names}")
    if args.locustfile is not None and not args.locustfile.is_file():
        raise UsageError(f"--locustfile {args.locustfile}: no such file")
    if args.rate <= 0 or args.duration <= 0 or args.warmup < 0 or args.cooldown < 0:
        raise UsageError("--rate and --duration must be > 0, --warmup and --cooldown >= 0")
    if args.ready_timeout < 0:
        raise UsageError(f"--ready-timeout {args.ready_timeout}: must be >= 0")
    if args.users is not None and args.users < 1:
        raise UsageError(f"--users {args.users}: need at least 1")
    if args.load_processes < 1:
        raise UsageError(f"--load-processes {args.load_processes}: need at least 1")
    options = _options(args.option)
    if scenario is not None:  # a user's own locustfile has options we cannot know
        for key, value in options.items():
            if (why := check_option(key, value)) is not None:
                raise UsageError(f"-O {key}={value}: {why}")
    return LoadPlan(
        scenario=scenario,
        locustfile=args.locustfile,
        users=args.users or default_users(args.rate, scenario, options),
        rate_per_s=args.rate,
        duration_s=args.duration,
        warmup_s=args.warmup,
        cooldown_s=args.cooldown,
        processes=args.load_processes,
        options=options,
        status_endpoint=args.status_endpoint,
        ready_timeout_s=args.ready_timeout,
    )


def server_plan(args: argparse.Namespace) -> ServerPlan:
    _resolve_env_defaults(args)
    if args.allocator is not None:
        try:
            parse_choice(args.allocator)
        except ValueError as exc:
            raise UsageError(f"--allocator: {exc}") from None
    if args.sample_interval <= 0:
        raise UsageError(f"--sample-interval {args.sample_interval}: must be > 0 seconds")
    for flag, value in (
        ("--workers", args.workers),
        ("--server-processes", args.server_processes),
        ("--tracemalloc-frames", args.tracemalloc_frames),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: need at least 1")
    if args.holders_tracemalloc_frames < 0:
        raise UsageError(
            f"--holders-tracemalloc-frames {args.holders_tracemalloc_frames}: need 0 (off) or more"
        )
    if args.mongo_uri and not args.mongo_uri.startswith(("mongodb://", "mongodb+srv://")):
        raise UsageError(f"--mongo-uri {args.mongo_uri!r} is not a mongodb:// URI")
    return ServerPlan(
        mongo_uri=args.mongo_uri,
        db_engine=resolve_engine(args.db_engine),
        driver=args.driver,
        workers=args.workers,
        processes=args.server_processes,
        allocator=args.allocator,
        extra_args=tuple(args.server_arg),
        sample_interval_s=args.sample_interval,
        agent=not getattr(args, "no_agent", False),
        tracemalloc_frames=args.tracemalloc_frames,
        holders_tracemalloc_frames=args.holders_tracemalloc_frames,
        memray=MemrayOptions(
            native=args.memray_native, trace_python_allocators=args.memray_trace_python_allocators
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
