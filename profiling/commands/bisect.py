"""memdiag bisect: find the commit that made memory worse, with a verdict at every step."""

from __future__ import annotations

import argparse
import time

from profiling.errors import UsageError
from profiling.report.bisect_md import render_bisect
from profiling.run.bisecting import BisectSettings, commit_range, run_bisect
from profiling.run.builds import (
    add_poll_argument,
    add_revision_arguments,
    add_verdict_arguments,
    apply_poll,
    check_server_cmd,
    tolerance_of,
)
from profiling.run.options import (
    add_load_arguments,
    add_output_arguments,
    add_own_server_arguments,
    load_plan,
    output_dir,
    server_plan,
)
from profiling.run.progress import RichProgress
from profiling.run.revisions import repo_root, resolve
from profiling.run.sequential import check_metric
from profiling.run.settings import LoadSettings, ServerSettings, from_args

HELP = "find the commit between --good and --bad that made memory worse"
DESCRIPTION = (
    HELP + ".\n\nFirst confirms that the ends differ (otherwise it stops and says so); at"
    " each step compares the commit with the good end over interleaved runs and gives a"
    " three-way verdict (regression / same / unknown), measuring more while unknown; a"
    " commit that does not build or start is skipped; samples are cached per commit; the"
    " first bad commit is confirmed against its parent. Writes bisect.md in the run folder."
    " Exits 0 when the culprit is confirmed, 4 when the ends do not differ or skipped"
    " commits hide the answer, 3 when the good end cannot be measured.\n\n"
    "example: memdiag bisect --good v1.2 --bad HEAD --server-cmd '{python} app.py --port"
    " {port}' --setup true --poll 'GET /work'"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--good", required=True, help="a revision without the regression")
    parser.add_argument("--bad", default="HEAD", help="a revision with it (default HEAD)")
    parser.add_argument(
        "--first-parent", action="store_true", help="follow only the first parent of merges"
    )
    add_bisect_arguments(parser)


def add_bisect_arguments(parser: argparse.ArgumentParser) -> None:
    """What bisect and check share after their revisions: runs, load, verdict, output.
    Their servers are the user's own, so the reference server's options are not listed."""
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs a side before a first verdict (>= 3)"
    )
    parser.add_argument(
        "--max-runs", type=int, default=8, help="runs of a commit in one verdict before 'unknown'"
    )
    add_poll_argument(parser)
    add_revision_arguments(parser)
    add_verdict_arguments(parser, optional=False)
    add_load_arguments(parser)
    add_own_server_arguments(parser)
    add_output_arguments(parser, profile=False)


def settings_of(args: argparse.Namespace) -> BisectSettings:
    """The options shared by bisect and check, checked before anything starts."""
    if args.repeat < 3 or args.max_runs < args.repeat:
        raise UsageError("--repeat needs at least 3 and --max-runs at least --repeat")
    server_cmd = check_server_cmd(args)
    apply_poll(args, True)
    return BisectSettings(
        repo=repo_root(args.repo),
        server_cmd=server_cmd,
        setup=args.setup,
        health=args.health,
        metric=check_metric(args.metric),
        tolerance=tolerance_of(args.tolerance),
        load=load_plan(from_args(LoadSettings, args)),
        server=server_plan(from_args(ServerSettings, args)),
        repeat=args.repeat,
        max_runs=args.max_runs,
        final_runs=max(5, args.repeat),
    )


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    out = output_dir(args, "bisect")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    good, bad = resolve(settings.repo, args.good), resolve(settings.repo, args.bad)
    commits = commit_range(settings.repo, good, bad, args.first_parent)
    # About: the ends, log2 steps and the culprit's confirmation, a few pairs each.
    progress = RichProgress(2 * settings.repeat * (len(commits).bit_length() + 2))
    try:
        outcome = run_bisect(
            settings, args.good, args.bad, out, first_parent=args.first_parent, progress=progress
        )
    finally:
        progress.close()
    report = out / "bisect.md"
    report.write_text(
        render_bisect(
            outcome,
            metric=settings.metric,
            tolerance=settings.tolerance,
            command=settings.server_cmd,
            wall_s=time.monotonic() - started,
        ),
        encoding="utf-8",
    )
    print(outcome.message)
    print(f"Wrote {report}")
    return outcome.exit_code
