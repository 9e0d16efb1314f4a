"""memdiag diff A B: compare two run folders or summary.json files from anywhere.

Two ablations (`memdiag ablate`'s folders or summaries) are diffed scenario by scenario
and their claims side by side (`profiling.report.ablation_diff`); an ablation against an
ordinary run is refused.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from profiling.errors import ExitCode, UsageError
from profiling.report import ablation_diff
from profiling.report.narrative import text_table, verdict_paragraph, work_text
from profiling.report.write import write_reports, write_text
from profiling.results.folder import RunResult, load_any, rebase_dirs
from profiling.verdict.claims import Ablation
from profiling.verdict.compare import METRICS, Comparison, compare, scenario_differences
from profiling.verdict.read_ablation import is_ablation, load_ablation

HELP = "compare two run folders or summary.json files (two branches of your app, say)"
DESCRIPTION = (
    HELP + ".\n\nA is the baseline. Prints the verdict and a table per metric; -o DIR also "
    "writes summary.json, report.md and report.html there. Refuses when the two were "
    "measured under different scenario parameters, unless --force. Work that differs by "
    "more than 10 % (task size, status polls served per second) or kept growing is "
    "marked not comparable, in the verdict and the JSON.\n\n"
    "Two ablations (memdiag ablate's folders or summaries, from the same --base) are "
    "diffed scenario by scenario: each configuration of a scenario both measured against "
    "itself, A's median, B's and B's verdict; then the claims side by side (each side's "
    "verdict and measured saving). -o DIR writes DIR/<scenario>/ reports and DIR/claims.md."
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
    ablations = [is_ablation(path) for path in (args.a, args.b)]
    if all(ablations):
        return diff_ablations(args)
    if any(ablations):
        which, other = (args.a, args.b) if ablations[0] else (args.b, args.a)
        raise UsageError(
            f"{which} is an ablation and {other} is not: diff two ablations "
            "(scenario by scenario, claims side by side) or two ordinary runs"
        )
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
    return ExitCode.OK


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


def _load(path: Path, alpha: float) -> Ablation:
    a = load_ablation(path, alpha=alpha)
    if a is None:
        raise UsageError(f"{path}: not an ablation folder or summary")
    return a


def diff_ablations(args: argparse.Namespace) -> int:
    """Scenario by scenario, then the claims side by side."""
    a, b = _load(args.a, args.alpha), _load(args.b, args.alpha)
    if (why := ablation_diff.refusal(a, b)) is not None:
        raise UsageError(f"cannot diff {args.a} and {args.b}: {why}")
    name_a, name_b = _side_name(args.a), _side_name(args.b)
    if name_a == name_b:
        name_a, name_b = "A", "B"
    by_scenario_b = dict(
        zip(ablation_diff.scenario_names(b), (c for _, c in b.comparisons), strict=True)
    )
    diffs: list[tuple[str, Comparison, list[str]]] = []
    for scenario, ca in zip(
        ablation_diff.scenario_names(a), (c for _, c in a.comparisons), strict=True
    ):
        cb = by_scenario_b.get(scenario)
        if cb is None:
            continue
        differences = scenario_differences(ca.runs[0].scenario, cb.runs[0].scenario)
        if differences and not args.force:
            raise UsageError(
                f"{args.a} and {args.b} measured {scenario} under different parameters ("
                + "; ".join(differences)
                + "); re-measure one of them, or pass --force to compare anyway"
            )
        target = (args.output / scenario) if args.output is not None else Path.cwd()
        runs = label_sides(
            rebase_dirs(list(ca.runs), _folder(args.a), target),
            rebase_dirs(list(cb.runs), _folder(args.b), target),
            name_a,
            name_b,
        )
        c = compare(runs, name=f"{scenario}: {name_a} vs {name_b}", alpha=args.alpha)
        confs = [conf.name for conf in ca.configurations]
        confs += [conf.name for conf in cb.configurations if conf.name not in confs]
        diffs.append((scenario, c, confs))
    for scenario, c, confs in diffs:
        print(f"== {scenario}: {name_a} (A) vs {name_b} (B)\n")
        if not c.comparable or not c.valid:
            print(verdict_paragraph(c) + "\n")
        print(text_table(ablation_diff.paired_rows(c, confs, name_a, name_b, scenario)) + "\n")
    only = [
        f"{s} only in {side}"
        for side, mine, theirs in (("A", a, b), ("B", b, a))
        for s in ablation_diff.scenario_names(mine)
        if s not in ablation_diff.scenario_names(theirs)
    ]
    if only:
        print("not compared: " + "; ".join(only) + "\n")
    pairs = ablation_diff.claim_pairs(a, b)
    print(f"== claims: {name_a} (A) vs {name_b} (B)\n")
    print(text_table(ablation_diff.claim_rows(pairs)))
    if args.output is not None:
        for scenario, c, _ in diffs:
            write_reports(c, args.output / scenario, html=not args.no_html)
        lines = [f"# Claims: {name_a} (A) vs {name_b} (B)", ""]
        lines += [ablation_diff.markdown_table(ablation_diff.claim_rows(pairs)), ""]
        lines += [f"- {scenario}: [report]({scenario}/report.md)" for scenario, _, _ in diffs]
        lines += [f"- not compared: {o}" for o in only]
        write_text(args.output / "claims.md", "\n".join(lines) + "\n")
    return ExitCode.OK


def _folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent
