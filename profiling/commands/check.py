"""memdiag check: one revision against a good one, with `git bisect run` exit codes.

    git bisect start BAD GOOD
    git bisect run memdiag check --good GOOD --server-cmd '...' --setup true

Exits 0 when the revision (default HEAD) is the same as --good (or better), 1 on a
regression, 125 when it cannot be tested (it does not build or start, or the verdict
stayed unknown), so git skips it; 255 on a usage error (a bad revision or option), which
stops `git bisect run` rather than marking commits bad. Its run folders go under
memdiag's cache unless -o names one (the current folder is the checkout git bisect is
walking). Samples are shared with `memdiag bisect` through the cache, so a check of a
commit a bisect measured costs nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from profiling.commands.bisect import add_bisect_arguments, settings_of
from profiling.errors import ExitCode, HarnessError, UsageError
from profiling.run.bisecting import Bench, step_line
from profiling.run.launchers import cache_dir
from profiling.run.options import output_dir
from profiling.run.revisions import resolve

HELP = "one revision's verdict against --good, with git bisect run's exit codes (0/1/125)"
DESCRIPTION = __doc__ or HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--good", required=True, help="the revision to compare against")
    parser.add_argument("--rev", default="HEAD", help="the revision to judge (default HEAD)")
    add_bisect_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_of(args)
        good, rev = resolve(settings.repo, args.good), resolve(settings.repo, args.rev)
    except UsageError as exc:
        # git bisect run takes 1-127 (but 125) for "bad": a usage error would mark every
        # commit bad; above 127 it stops the bisect instead.
        print(f"memdiag check: {exc}", file=sys.stderr)
        return ExitCode.ABORT
    # Not ./reports by default: under `git bisect run` the current folder is the user's
    # checkout, which a run folder would litter.
    if args.output is None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        args.output = cache_dir() / "checks" / f"{stamp}-{rev.short}-{os.getpid()}"
    out = output_dir(args, "check")
    bench = Bench(settings, out)
    try:
        step = bench.compare(good, rev, "check")
    except HarnessError as exc:  # the good end itself cannot be measured
        print(f"memdiag check: cannot test: {exc}")
        return ExitCode.CANNOT_TEST
    print(step_line(step))
    if step.verdict is None or step.verdict.verdict == "unknown":
        return ExitCode.CANNOT_TEST
    return ExitCode.FAILED if step.verdict.worse else ExitCode.OK
