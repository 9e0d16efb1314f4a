"""The end of a measuring command (measure, compare, sweep, ablate): reports, exit code.

Not a subcommand: every command that runs a schedule calls `finish` once it has run.
The runs that finished are re-read from the folder, judged and written out by a
`Reporter` (a comparison's for measure, compare and sweep; the claims' for ablate),
and one set of rules picks the exit code for all of them: 130 when interrupted (the
reports cover the runs that finished), 3 when no run finished, a run is invalid or the
work is not comparable, else 0.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from profiling.errors import ExitCode
from profiling.report.narrative import not_comparable_line
from profiling.report.verdict_lines import verdict_lines
from profiling.report.write import write_reports
from profiling.results.folder import RunResult, load_runs
from profiling.run.plans import Outcome
from profiling.verdict.compare import compare


@dataclass(frozen=True, slots=True)
class Judged:
    """What a reporter found in the runs, for the terminal and the exit code."""

    lines: list[str]  # the verdict, printed before the report's path
    invalid_reasons: Sequence[str]  # empty when every run is valid
    unequal_work: str  # empty when the work is comparable; else one line saying how
    work_where: str = "see the report's Work table"  # where the report shows the work


# Writes the reports for the runs into the folder (html or not) and judges them.
Reporter = Callable[[Sequence[RunResult], Path, bool], Judged]


def comparison_reporter(name: str) -> Reporter:
    """measure, compare and sweep: one comparison of the configurations."""

    def report(runs: Sequence[RunResult], out: Path, html: bool) -> Judged:
        comparison = compare(runs, name=name)
        write_reports(comparison, out, html=html)
        return Judged(
            verdict_lines(comparison),
            comparison.invalid_reasons,
            not_comparable_line(comparison) if not comparison.comparable else "",
        )

    return report


def finish(outcome: Outcome, out: Path, report: Reporter, *, html: bool = True) -> ExitCode:
    """Write the reports for the runs that finished; the exit code for the command."""
    runs = outcome.runs
    if not runs:
        print(f"memdiag: no run finished; partial files are in {out}", file=sys.stderr)
        return ExitCode.INTERRUPTED if outcome.interrupted else ExitCode.INVALID
    # Re-read what the runs wrote, so this report is exactly what `memdiag report` renders
    # (with the RSS timelines from each run's rss.csv).
    judged = report(load_runs(out) or runs, out, html)
    print("\n".join(judged.lines))
    print(f"Report: {out / 'report.html' if html else out / 'report.md'}")
    if outcome.interrupted:
        print(
            f"memdiag: interrupted; the reports cover the {len(runs)} run(s) that finished",
            file=sys.stderr,
        )
        return ExitCode.INTERRUPTED
    if judged.invalid_reasons:
        print("memdiag: invalid run(s): " + "; ".join(judged.invalid_reasons), file=sys.stderr)
        return ExitCode.INVALID
    if judged.unequal_work:
        print(
            f"memdiag: work not comparable ({judged.work_where}): {judged.unequal_work}",
            file=sys.stderr,
        )
        return ExitCode.INVALID
    return ExitCode.OK
