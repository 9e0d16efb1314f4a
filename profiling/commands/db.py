"""memdiag db: run the embedded MongoDB-compatible server (FerretDB, SQLite) in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from profiling.embedded_db import EmbeddedDB
from profiling.errors import UsageError

HELP = "run the embedded MongoDB-compatible database (FerretDB, SQLite) in the foreground"
DESCRIPTION = (
    HELP + ".\n\nPrints its mongodb://127.0.0.1:PORT/ URI as the first line on stdout once it "
    "accepts connections; stops on SIGTERM or Ctrl-C. Without --data-dir the data lives in a "
    "temporary directory that is removed on exit."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--data-dir", type=Path, help="keep the SQLite files here")
    parser.add_argument("--log-level", default="warn", choices=["debug", "info", "warn", "error"])


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (0-65535)")
    if args.data_dir is not None and args.data_dir.exists() and not args.data_dir.is_dir():
        raise UsageError(f"--data-dir {args.data_dir} exists and is not a directory")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    db = EmbeddedDB(port=args.port, data_dir=args.data_dir, log_level=args.log_level)
    try:
        db.start()
        print(db.uri, flush=True)
        print(f"FerretDB (SQLite) in {db.data_dir}, pid {db.pid}; Ctrl-C stops it", file=sys.stderr)
        while not stop.is_set():
            if db.process is not None and db.process.poll() is not None:
                print(f"embedded DB exited with {db.process.returncode}", file=sys.stderr)
                return 3
            stop.wait(0.5)
        return 0
    finally:
        db.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
