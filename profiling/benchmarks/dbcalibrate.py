"""The DB calibration table of docs/database.md: one task-sized read per engine and size.

Starts an embedded DB (or takes `--mongo-uri`), times `find_one` of one task-like
document against the client's own decode (`profiling.probes.dbcalibrate.calibrate`),
optionally a one-field `$set`, and prints one Markdown table row with the DB's peak RSS.

    python -m profiling.benchmarks.dbcalibrate --segments 3000 [--mongo-uri URI | --db-engine E]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from profiling.errors import MemdiagError
from profiling.probes.dbcalibrate import MIB, Calibration, calibrate, time_one_field_set
from profiling.probes.procmem import read_mem
from profiling.run.embedded_db import EmbeddedDB, resolve_engine

HEADER = (
    "| engine | segments | doc MiB | find_one ms | decode ms | ratio | DB ms/MiB | $set ms "
    "| DB peak RSS MiB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def table_row(cal: Calibration, set_ms: float | None = None, db_peak_rss: int | None = None) -> str:
    set_text = f"{set_ms:.1f}" if set_ms is not None else "-"
    rss_text = f"{db_peak_rss / MIB:.0f}" if db_peak_rss is not None else "-"
    return (
        f"| {cal.engine} | {cal.segments:,} | {cal.doc_bytes / MIB:.2f} | {cal.find_one_ms:.1f} "
        f"| {cal.decode_ms:.1f} | {cal.ratio:.2f} | {cal.db_ms_per_mib:.1f} | {set_text} "
        f"| {rss_text} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m profiling.benchmarks.dbcalibrate",
        description="Time find_one of one task-sized document against the client's decode.",
    )
    parser.add_argument("--segments", type=int, required=True)
    parser.add_argument("--words-per-segment", type=int, default=12)
    parser.add_argument("--reads", type=int, default=7, help="timed reads (median)")
    parser.add_argument("--warmup-reads", type=int, default=3)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--mongo-uri", help="a running MongoDB-compatible server")
    where.add_argument(
        "--db-engine",
        help="start this embedded DB: mongo-java (default) or ferretdb; prints its peak RSS",
    )
    parser.add_argument("--set", action="store_true", help="also time a one-field $set")
    parser.add_argument("--no-header", action="store_true", help="print only the table row")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return _run(args)
    except MemdiagError as exc:
        print(f"dbcalibrate: {exc}", file=sys.stderr)
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    db_peak_rss: int | None = None
    sizes = {"segments": args.segments, "words_per_segment": args.words_per_segment}
    if args.mongo_uri:
        cal = calibrate(args.mongo_uri, reads=args.reads, warmup_reads=args.warmup_reads, **sizes)
        set_ms = time_one_field_set(args.mongo_uri, **sizes) if args.set else None
    else:
        db_engine = resolve_engine(args.db_engine)
        with EmbeddedDB(engine=db_engine) as db:
            cal = calibrate(
                db.uri,
                reads=args.reads,
                warmup_reads=args.warmup_reads,
                engine=db_engine,
                **sizes,
            )
            set_ms = time_one_field_set(db.uri, **sizes) if args.set else None
            db_peak_rss = read_mem(db.pid).peak_rss_bytes  # the DB's own high-water mark
    if not args.no_header:
        print(HEADER)
    print(table_row(cal, set_ms, db_peak_rss), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
