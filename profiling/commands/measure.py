"""memdiag measure: one measured run (or --repeat N) into a run folder."""

from __future__ import annotations

import argparse

from profiling.commands.finish import comparison_reporter, finish
from profiling.errors import UsageError
from profiling.run.options import (
    ENV_NOTE,
    add_load_arguments,
    add_output_arguments,
    add_server_arguments,
    load_plan,
    output_dir,
    server_plan,
)
from profiling.run.preflight import preflight
from profiling.run.progress import RichProgress
from profiling.run.runner import Attach, run_schedule, schedule
from profiling.run.servers import (
    MODES,
    Configuration,
    check_configurations,
    parse_configurations,
)
from profiling.run.settings import LoadSettings, ServerSettings, from_args
from profiling.run.subprocs import pid_alive

HELP = "one measured run: start DB and server (or attach by --url/--pid), drive load, report"
DESCRIPTION = (
    HELP + ".\n\nWith --mode (and --set), memdiag starts a fresh embedded DB and the reference "
    "server; with --url URL --pid PID it measures any running server and starts nothing. "
    "Writes summary.json, report.md, report.html and the raw files (runs/*/) into the run "
    "folder.\n\n"
    + ENV_NOTE
    + "\n\nexample: memdiag measure --mode lean --rate 10 --duration 30 --warmup 10\n"
    "example: memdiag measure --url http://127.0.0.1:8000/ --pid 4242 --locustfile mine.py "
    "--users 20 --rate 10"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("what to measure")
    g.add_argument("--mode", choices=MODES, help="the reference server's design")
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SWITCH=VALUE",
        help="override one switch of the mode (repeatable)",
    )
    g.add_argument("--url", help="measure a running server at this base URL instead")
    g.add_argument("--pid", type=int, help="with --url: the server's process id (sampled)")
    g.add_argument("--db-pid", type=int, help="with --url: the database's process id (sampled)")
    g.add_argument("--label", help="the configuration's name in reports (with --url)")
    g.add_argument("--repeat", type=int, default=1, help="measured runs (default 1)")
    add_load_arguments(parser)
    add_server_arguments(parser)
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    attach = None
    if args.url is not None or args.pid is not None:
        if args.url is None or args.pid is None:
            raise UsageError("--url and --pid go together: the URL to load, the PID to sample")
        if args.mode is not None or args.set:
            raise UsageError("give either --mode/--set (memdiag starts the server) or --url/--pid")
        if not args.url.startswith(("http://", "https://")):
            raise UsageError(f"--url {args.url!r} is not a URL; e.g. http://127.0.0.1:8080/")
        for flag, pid in (("--pid", args.pid), ("--db-pid", args.db_pid)):
            if pid is not None and not pid_alive(pid):
                raise UsageError(f"{flag} {pid}: no such process")
        if args.profile != "none":
            raise UsageError("--profile needs the reference server; it cannot attach to --pid")
        attach = Attach(args.url, args.pid, args.db_pid)
        config = Configuration(args.label or "server", "attached")
    else:
        mode = args.mode or "memory-first"
        spec = mode + (":" + ",".join(args.set) if args.set else "")
        config = parse_configurations(spec)[0]
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: need at least 1")
    load = from_args(LoadSettings, args)
    plan = load_plan(load)
    server = server_plan(from_args(ServerSettings, args))
    if attach is None:
        check_configurations([config], server.extra_args)  # before anything starts
    out = output_dir(args, config.label)
    jobs = schedule([config], args.repeat, plan, profile=args.profile)
    if attach is None:  # a server of the user's own is not db-polling's work
        jobs = preflight(jobs, load)
    progress = RichProgress(len(jobs))
    try:
        outcome = run_schedule(jobs, out, server, attach=attach, progress=progress)
    finally:
        progress.close()
    name = args.name or out.name
    return finish(outcome, out, comparison_reporter(name), html=not args.no_html)
