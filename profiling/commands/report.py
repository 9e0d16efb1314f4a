"""memdiag report: re-render summary.json, report.md and report.html from stored data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from profiling.errors import ExitCode, UsageError
from profiling.numbers import bytes_text
from profiling.report.write import write_ablation_reports, write_reports
from profiling.results.folder import load_any, read_json, rebase_dirs
from profiling.results.slim import slim_folder
from profiling.verdict.claims import PLAN_FILE, evaluate, plan_from_document
from profiling.verdict.compare import compare

HELP = "re-render Markdown and HTML reports from a run folder's stored data (nothing re-run)"
DESCRIPTION = (
    HELP + ".\n\nReads the run folder's runs/*/run.json (or its summary.json when the run "
    "folders are gone), recomputes medians and verdicts, and writes summary.json, report.md "
    "and report.html into the folder (or into --output). A folder `memdiag ablate` wrote "
    "(it holds ablation.json) gets its claims table again. --slim first deletes the raw probe "
    "output under runs/ that the reports do not read (Locust's files, /metrics scrapes, logs), "
    "keeping run.json, rss.csv and agent.csv: how the committed examples are kept small."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="a run folder or a summary.json")
    parser.add_argument("-o", "--output", type=Path, help="write the reports here instead")
    parser.add_argument("--name", help="title of the report (default: the folder's name)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    parser.add_argument("--no-html", action="store_true", help="skip report.html (no matplotlib)")
    parser.add_argument(
        "--slim",
        action="store_true",
        help="delete the runs' raw probe output the reports do not read, in place (cannot "
        "be undone; keeps run.json, rss.csv, agent.csv)",
    )


def run(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha} must be between 0 and 1, e.g. 0.05")
    source: Path = args.folder
    if not source.exists():
        raise UsageError(f"No such run folder: {source}")
    runs = load_any(source)  # loads whole before anything is deleted
    folder = source if source.is_dir() else source.parent
    if args.slim:
        if args.output is not None:
            raise UsageError("--slim works in place: drop --output, or copy the folder first")
        done = slim_folder(folder)
        print(
            f"memdiag report: slimmed {folder}: {done.runs} run(s), {done.files_removed} "
            f"file(s) removed, runs/ {bytes_text(done.bytes_before)} -> "
            f"{bytes_text(done.bytes_after)}",
            file=sys.stderr,
        )
        runs = load_any(source)  # the artifacts left
    name = args.name or folder.resolve().name
    output: Path = args.output or folder
    # Links in the report are relative to where it is written; keep them reaching the runs.
    runs = rebase_dirs(runs, folder, output)
    if (folder / PLAN_FILE).is_file():
        # An ablation's folder: the claims table and a comparison per scenario.
        plan = plan_from_document(read_json(folder / PLAN_FILE))
        result = evaluate(plan, runs, name=name, alpha=args.alpha)
        write_ablation_reports(result, output, html=not args.no_html)
        return ExitCode.OK
    comparison = compare(runs, name=name, alpha=args.alpha)
    write_reports(comparison, output, html=not args.no_html)
    if not comparison.valid:
        print(
            f"memdiag report: warning: {len(comparison.invalid_reasons)} invalid run(s): "
            + "; ".join(comparison.invalid_reasons),
            file=sys.stderr,
        )
    return ExitCode.OK
