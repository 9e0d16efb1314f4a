"""memdiag diff A B: compare two run folders or summary.json files from anywhere."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from profiling.compare import METRICS, Comparison, compare, scenario_differences
from profiling.errors import UsageError
from profiling.narrative import text_table, verdict_paragraph, work_text
from profiling.outputs import write_reports
from profiling.results import RunResult, load_any, rebase_dirs

HELP = "compare two run folders or summary.json files (two branches of your app, say)"
DESCRIPTION = (
    HELP + ".\n\nA is the baseline. Prints the verdict and a table per metric; -o DIR also "
    "writes summary.json, report.md and report.html there. Refuses when the two were "
    "measured under different scenario parameters, unless --force. Work that differs by "
    "more than 10 % (task size, status polls served per second) or kept growing is "
    "marked not comparable, in the verdict and the JSON."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", type=Path, metavar="A", help="baseline: run folder or summary.json")
    parser.add_argument("b", type=Path, metavar="B", help="candidate: run folder or summary.json")
    parser.add_argument("-o", "--output", type=Path, help="also write the reports into DIR")
    parser.add_argument("--force", action="store_true", help="compare even if scenarios differ")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    parser.add_argument("--no-html", action="store_true", help="with -o: skip report.html")


def _side_name(path: Path) -> str:
    folder = path if path.is_dir() else path.parent
    return folder.resolve().name or str(path)


def label_sides(
    a: list[RunResult], b: list[RunResult], name_a: str, name_b: str
) -> list[RunResult]:
    """A's runs then B's, relabelled apart when both sides use the same configuration names."""
    if name_a == name_b:
        name_a, name_b = "A", "B"
    confs_a = {r.configuration for r in a}
    confs_b = {r.configuration for r in b}
    single = len(confs_a) == 1 and len(confs_b) == 1

    def label(side: str, run: RunResult) -> str:
        if not confs_a & confs_b:
            return run.configuration
        return side if single else f"{side}:{run.configuration}"

    out: list[RunResult] = []
    for side, runs in ((name_a, a), (name_b, b)):
        for run in sorted(runs, key=lambda r: r.order):
            out.append(replace(run, configuration=label(side, run), order=len(out) + 1))
    return out


def run(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha} must be between 0 and 1, e.g. 0.05")
    sides = []
    for path in (args.a, args.b):
        runs = load_any(path)
        folder = path if path.is_dir() else path.parent
        sides.append(rebase_dirs(runs, folder, args.output or Path.cwd()))
    differences = scenario_differences(sides[0][0].scenario, sides[1][0].scenario)
    if differences and not args.force:
        raise UsageError(
            f"{args.a} and {args.b} were measured under different scenarios ("
            + "; ".join(differences)
            + "); re-measure one of them, or pass --force to compare anyway"
        )
    runs = label_sides(sides[0], sides[1], _side_name(args.a), _side_name(args.b))
    comparison = compare(
        runs, name=f"{_side_name(args.a)} vs {_side_name(args.b)}", alpha=args.alpha
    )
    print(format_table(comparison))
    if args.output is not None:
        write_reports(comparison, args.output, html=not args.no_html)
    return 0


def format_table(c: Comparison) -> str:
    """The verdict, the work each side did, and a plain-text table of every metric."""
    names = [conf.name for conf in c.configurations]
    header = ["metric", *names, "verdict"]
    rows = [header]
    for m in METRICS:
        values = [conf.medians.get(m.key) for conf in c.configurations]
        if all(v is None for v in values):
            continue
        labels = [
            v.label
            for conf in c.configurations[1:]
            if (v := c.verdict(m.key, c.baseline.name, conf.name)) is not None
        ]
        rows.append([m.title, *(m.format(v) for v in values), "; ".join(labels)])
    return verdict_paragraph(c) + "\n\n" + work_text(c) + "\n\n" + text_table(rows)
