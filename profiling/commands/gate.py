"""memdiag gate SUMMARY: fail a build on threshold or baseline violations.

Exit codes: 0 every check passed, 1 a check failed, 2 usage (missing file, bad
thresholds), 3 a run in the summary is invalid, 4 a significance check was asked for
with too few repeats. With GITHUB_STEP_SUMMARY set, the Markdown verdict is appended there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from profiling.compare import Comparison, compare
from profiling.errors import UsageError
from profiling.gate import Check, check, exit_code, load_limits
from profiling.narrative import not_comparable_line, verdict_paragraph, work_text
from profiling.results import load_any

HELP = "check a summary against thresholds; exit 1 on violations (a CI gate)"
DESCRIPTION = (
    HELP + ".\n\nThresholds come from [tool.memdiag.gate] in the nearest pyproject.toml or "
    "from --config FILE (same content at the top level). Exit 0 pass, 1 failed, 2 usage "
    "error, 3 invalid run or work not comparable (the configurations polled tasks of "
    "different sizes or at different rates, by more than 10 %, or their tasks kept "
    "growing), 4 inconclusive (a significance check needs more repeats)."
)
_VERDICT = {0: "PASSED", 1: "FAILED", 3: "INVALID RUN", 4: "INCONCLUSIVE"}


def _verdict_name(code: int, comparison: Comparison) -> str:
    if code == 3 and comparison.valid:
        return "NOT COMPARABLE"
    return _VERDICT.get(code, str(code))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("summary", type=Path, metavar="SUMMARY", help="summary.json or run folder")
    parser.add_argument("--config", type=Path, help="TOML file with the thresholds at top level")
    parser.add_argument("--baseline", type=Path, help="summary.json to check regressions against")


def format_checks(checks: list[Check]) -> str:
    rows = [["check", "status", "actual", "why"]]
    rows += [[c.name, c.status, c.actual, c.why] for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(checks: list[Check], comparison: Comparison, code: int) -> str:
    lines = [
        f"## memdiag gate: {_verdict_name(code, comparison)}",
        "",
        verdict_paragraph(comparison),
    ]
    lines.append("")
    if checks:
        lines += ["| check | status | actual | why |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {c.name} | {c.status} | {c.actual} | {c.why} |".replace("\n", " ") for c in checks
        ]
    return "\n".join(lines) + "\n\n"


def run(args: argparse.Namespace) -> int:
    # The files first: a missing summary is the error to report, whatever the thresholds.
    for flag, path in (("SUMMARY", args.summary), ("--baseline", args.baseline)):
        if path is not None and not path.exists():
            raise UsageError(f"No such run folder or summary file: {path} ({flag})")
    limits = load_limits(args.config)
    if limits.empty:
        # A gate that checks nothing must not pass a build by accident.
        raise UsageError(
            f'no thresholds in {limits.source}: add e.g. [configurations."lean"] '
            "peak_rss_mib = 200 (see memdiag gate --help)"
        )
    comparison = compare(load_any(args.summary), name=args.summary.resolve().parent.name)
    baseline = compare(load_any(args.baseline)) if args.baseline is not None else None
    checks = check(comparison, limits, baseline)
    code = exit_code(checks, comparison)
    print(format_checks(checks))
    if comparison.not_comparable:
        print("\n" + work_text(comparison))
    if summary_file := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(markdown(checks, comparison, code))
    failed = sum(c.status == "failed" for c in checks)
    if code == 3 and not comparison.valid:
        print(
            "memdiag gate: invalid run: " + "; ".join(comparison.invalid_reasons), file=sys.stderr
        )
    elif code == 3:
        print(
            "memdiag gate: work not comparable (more than 10 % apart from "
            f"{comparison.baseline.name}, or growing): {not_comparable_line(comparison)}",
            file=sys.stderr,
        )
    elif code == 1:
        print(f"memdiag gate: {failed} of {len(checks)} check(s) failed", file=sys.stderr)
    elif code == 4:
        print(
            "memdiag gate: inconclusive: a significance check needs more repeats "
            "(memdiag compare --repeat N)",
            file=sys.stderr,
        )
    else:
        print(f"memdiag gate: {len(checks)} check(s) passed")
    return code
