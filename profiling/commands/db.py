"""memdiag db: run the embedded MongoDB-compatible server in the foreground.

The engine is mongo-java-server (default) or FerretDB (`--engine`, env MEMDIAG_DB_ENGINE);
see `profiling.run.embedded_db`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from profiling.errors import ExitCode, UsageError
from profiling.run.embedded_db import DEFAULT_ENGINE, ENGINES, EmbeddedDB, resolve_engine

HELP = "run the embedded MongoDB-compatible database in the foreground"
DESCRIPTION = (
    HELP + ".\n\nPrints its mongodb://127.0.0.1:PORT/ URI as the first line on stdout once it "
    "accepts connections; stops on SIGTERM or Ctrl-C. Without --data-dir the database is "
    "fresh and empty and gone on exit (mongo-java: in memory; ferretdb: a temporary "
    "directory); with it, the data persists there (an H2 file, or SQLite files)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--engine",
        default=None,
        metavar="ENGINE",
        help=f"{' or '.join(ENGINES)} (default: env MEMDIAG_DB_ENGINE, else {DEFAULT_ENGINE})",
    )
    parser.add_argument("--data-dir", type=Path, help="keep the database files here")
    parser.add_argument(
        "--log-level",
        default="warn",
        choices=["debug", "info", "warn", "error"],
        help="the database's own log level, on stderr (default: warn)",
    )


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (0-65535)")
    if args.data_dir is not None and args.data_dir.exists() and not args.data_dir.is_dir():
        raise UsageError(f"--data-dir {args.data_dir} exists and is not a directory")
    engine = resolve_engine(args.engine, option="--engine")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    db = EmbeddedDB(engine=engine, port=args.port, data_dir=args.data_dir, log_level=args.log_level)
    try:
        db.start()
        print(db.uri, flush=True)
        where = f" in {db.data_dir}" if db.data_dir is not None else ""
        print(f"{db.description}{where}, pid {db.pid}; Ctrl-C stops it", file=sys.stderr)
        while not stop.is_set():
            if db.process is not None and db.process.poll() is not None:
                print(f"embedded DB exited with {db.process.returncode}", file=sys.stderr)
                return ExitCode.INVALID
            stop.wait(0.5)
        return ExitCode.OK
    finally:
        db.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
