"""memdiag compare: several configurations under identical load, interleaved, then the report."""

from __future__ import annotations

import argparse

from profiling.commands.builds import run_builds
from profiling.commands.finish import comparison_reporter, finish
from profiling.errors import UsageError
from profiling.run.builds import (
    add_build_arguments,
    add_verdict_arguments,
    apply_poll,
    build_configurations,
)
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
from profiling.run.runner import run_schedule, schedule
from profiling.run.servers import (
    DEFAULT_CONFIGS,
    RUNTIME_HELP,
    check_configurations,
    parse_configurations,
)
from profiling.run.settings import LoadSettings, ServerSettings, from_args

HELP = "measure several configurations under identical load (A B C A B C ...) and report"
DESCRIPTION = (
    HELP + ".\n\nA configuration is mode[:switch=value,...][@ITEM+...] (items: jemalloc, "
    "arenas=N, glibc, mmap_threshold=BYTES, trim_threshold=BYTES, pymalloc=off, "
    "driver=motor|pymongo-async, processes=N); the same one twice is an A/A run "
    "(labelled lean, lean#2) that "
    "calibrates noise. Verdicts need --repeat 4 or more to be called significant. Exits 3 "
    "when a run is invalid or the work is not comparable (task size or polls served more "
    "than 10 % from the first configuration's, or tasks growing in the steady phase).\n\n"
    + ENV_NOTE
    + "\n\nYour own servers: --server NAME='CMD' (each run starts it fresh) or git revisions"
    " (--rev main --rev HEAD --server-cmd 'CMD'), loaded by --poll 'GET /path' or your"
    " --locustfile; --tolerance 5% adds the three-way verdict of the second against the"
    " first (exit 0 same, 1 regression, 4 unknown), --budget 10m measures more while unknown."
    + "\n\nexample: memdiag compare --duration 20 --warmup 5 --repeat 1\n"
    "example: memdiag compare --configs db-polling,db-polling@jemalloc --repeat 4"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--configs",
        default=DEFAULT_CONFIGS,
        help="comma-separated configurations, each mode[:switch=value,...][@item+item] "
        f"({RUNTIME_HELP}; e.g. memory-first@processes=2+jemalloc); default {DEFAULT_CONFIGS}",
    )
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per configuration")
    add_build_arguments(parser)
    add_verdict_arguments(parser, optional=True)
    add_load_arguments(parser)
    add_server_arguments(parser)
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: need at least 1")
    if (args.server or args.rev) and args.configs != DEFAULT_CONFIGS:
        raise UsageError("--configs names the reference server's designs; not with --server/--rev")
    own = build_configurations(args)
    apply_poll(args, own is not None)
    if own is not None or args.tolerance is not None:
        return run_builds(args, own or parse_configurations(args.configs))
    configs = parse_configurations(args.configs)
    load = from_args(LoadSettings, args)
    plan = load_plan(load)
    server = server_plan(from_args(ServerSettings, args))
    check_configurations(configs, server.extra_args)  # every argument, before anything starts
    out = output_dir(args, "compare")
    jobs = preflight(schedule(configs, args.repeat, plan, profile=args.profile), load)
    progress = RichProgress(len(jobs))
    try:
        outcome = run_schedule(jobs, out, server, progress=progress)
    finally:
        progress.close()
    name = args.name or out.name
    return finish(outcome, out, comparison_reporter(name), html=not args.no_html)
