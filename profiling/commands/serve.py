"""memdiag serve: run the reference server (python -m reference_server) in the foreground."""

from __future__ import annotations

import argparse
import os
import sys

from profiling.errors import ExitCode

HELP = "run the reference server (same options as python -m reference_server)"
PASSTHROUGH = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every argument goes to the server, which owns its options and --help."""


def run(args: argparse.Namespace) -> int:
    # Exec rather than import: the CLI starts the server through its entry point,
    # so a `memdiag serve` process is exactly what `python -m reference_server` is.
    os.execv(sys.executable, [sys.executable, "-m", "reference_server", *args.extra])
    return ExitCode.OK  # not reached
