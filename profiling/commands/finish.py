"""The end of a measuring command (measure, compare, sweep): reports written, exit code chosen.

Not a subcommand: `measure`, `compare` and `sweep` call `finish` once their schedule
has run, and it turns the runs that finished into reports and an exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from profiling.report.narrative import not_comparable_line
from profiling.report.verdict_lines import verdict_lines
from profiling.report.write import write_reports
from profiling.results.folder import load_runs
from profiling.run.plans import Outcome
from profiling.verdict.compare import compare


def finish(outcome: Outcome, out: Path, name: str, *, html: bool = True) -> int:
    """Write the reports for the runs that finished; the exit code for the command."""
    runs = outcome.runs
    if outcome.error is not None:
        print(f"memdiag: {outcome.error}", file=sys.stderr)
    if not runs:
        print(f"memdiag: no run finished; partial files are in {out}", file=sys.stderr)
        return 130 if outcome.interrupted else 3
    # Re-read what the runs wrote, so this report is exactly what `memdiag report` renders
    # (with the RSS timelines from each run's rss.csv).
    comparison = compare(load_runs(out) or runs, name=name)
    write_reports(comparison, out, html=html)
    print("\n".join(verdict_lines(comparison)))
    print(f"Report: {out / 'report.html' if html else out / 'report.md'}")
    if outcome.interrupted:
        print(
            f"memdiag: interrupted; the reports cover the {len(runs)} run(s) that finished",
            file=sys.stderr,
        )
        return 130
    if outcome.error is not None:
        return 3
    if not comparison.valid:
        print("memdiag: invalid run(s): " + "; ".join(comparison.invalid_reasons), file=sys.stderr)
        return 3
    if not comparison.comparable:
        print(
            "memdiag: work not comparable (see the report's Work table): "
            + not_comparable_line(comparison),
            file=sys.stderr,
        )
        return 3
    return 0
