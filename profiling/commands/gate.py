"""memdiag gate SUMMARY: fail a build on threshold or baseline violations.

Exit codes: 0 every check passed, 1 a check failed, 2 usage (missing file, bad
thresholds), 3 a run in the summary is invalid, 4 a significance check was asked for
with too few repeats. With GITHUB_STEP_SUMMARY set, the Markdown verdict is appended there.
An ablation (`memdiag ablate`'s folder or summary) is gated by `profiling.verdict.ablation_gate`:
its scenarios' validity, `--baseline` per scenario and `--claims` that must be confirmed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtests.names import module_spelling
from profiling.errors import ExitCode, UsageError
from profiling.report.narrative import not_comparable_line, work_text
from profiling.report.thresholds import thresholds_block
from profiling.report.verdict_lines import pr_comment_lines
from profiling.results.folder import load_any
from profiling.verdict import ablation_gate
from profiling.verdict.claims import Ablation
from profiling.verdict.compare import Comparison, compare
from profiling.verdict.gate import NOT_COMPARABLE, Check, check, exit_code, load_limits
from profiling.verdict.read_ablation import is_ablation, load_ablation

HELP = "check a summary against thresholds; exit 1 on violations (a CI gate)"
DESCRIPTION = (
    HELP + ".\n\nThresholds come from [tool.memdiag.gate] in the nearest pyproject.toml or "
    "from --config FILE (same content at the top level). Exit 0 pass, 1 failed, 2 usage "
    "error, 3 invalid run or work not comparable (the configurations polled tasks of "
    "different sizes or at different rates, by more than 10 %, or their tasks kept "
    "growing; with --baseline, a configuration whose work differs so from the "
    "baseline's), 4 inconclusive (a significance check needs more repeats).\n\n"
    "On an ablation (memdiag ablate's folder or summary.json) the gate checks each "
    "scenario's runs (invalid or unequal work: exit 3), with --baseline the peak RSS of "
    "each configuration against the same configuration and scenario of the baseline "
    "(max_peak_rss_increase_pct), and with --claims KEY,... that each named claim is "
    "confirmed (exit 1 if not, 4 if inconclusive). Absolute limits and improvements are "
    "for memdiag compare's summaries and are not applied to an ablation.\n\n"
    "example: memdiag gate run/summary.json --baseline main/summary.json\n"
    "example: memdiag gate ablation/ --claims poll_source,all"
)
_VERDICT = {
    ExitCode.OK: "PASSED",
    ExitCode.FAILED: "FAILED",
    ExitCode.INVALID: "INVALID RUN",
    ExitCode.INCONCLUSIVE: "INCONCLUSIVE",
}


def _verdict_name(code: ExitCode, comparison: Comparison) -> str:
    if code == ExitCode.INVALID and comparison.valid:
        return "NOT COMPARABLE"
    return _VERDICT.get(code, str(code))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("summary", type=Path, metavar="SUMMARY", help="summary.json or run folder")
    parser.add_argument("--config", type=Path, help="TOML file with the thresholds at top level")
    parser.add_argument("--baseline", type=Path, help="summary.json to check regressions against")
    parser.add_argument(
        "--claims",
        help="an ablation's claims (comma-separated keys, e.g. poll_source,all) that must "
        "be confirmed",
    )


def format_checks(checks: list[Check]) -> str:
    rows = [["check", "status", "actual", "why"]]
    rows += [[c.name, c.status, c.actual, c.why] for c in checks]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(checks: list[Check], comparison: Comparison, code: ExitCode) -> str:
    """The pull request's summary: at most ten verdict lines, then the thresholds."""
    lines = [f"## memdiag gate: {_verdict_name(code, comparison)}", ""]
    lines += [f"- {line}" for line in pr_comment_lines(comparison)]
    if block := thresholds_block(checks):
        lines += ["", block]
    return "\n".join(lines) + "\n\n"


def run(args: argparse.Namespace) -> int:
    # The files first: a missing summary is the error to report, whatever the thresholds.
    for flag, path in (("SUMMARY", args.summary), ("--baseline", args.baseline)):
        if path is not None and not path.exists():
            raise UsageError(f"No such run folder or summary file: {path} ({flag})")
    if is_ablation(args.summary):
        return run_ablation(args)
    if args.claims is not None:
        raise UsageError(
            f"--claims needs an ablation (memdiag ablate's folder or summary); "
            f"{args.summary} is an ordinary summary"
        )
    if args.baseline is not None and is_ablation(args.baseline):
        raise UsageError(
            f"--baseline {args.baseline} is an ablation; {args.summary} is not: "
            "gate a summary against a summary, an ablation against an ablation"
        )
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
    within = (
        f" (more than 10 % apart from {comparison.baseline.name}, or growing): "
        + not_comparable_line(comparison)
    )
    _print_outcome(
        code,
        checks,
        invalid=None if comparison.valid else comparison.invalid_reasons,
        unequal=_unequal(within if comparison.not_comparable else None, checks),
        more_repeats="a significance check needs more repeats (memdiag compare --repeat N)",
    )
    return code


def baseline_work(checks: Sequence[Check]) -> list[str]:
    """How the checked work differs from the baseline's, from the checks that say so."""
    return [c.why for c in checks if c.status == NOT_COMPARABLE]


def _unequal(within: str | None, checks: Sequence[Check]) -> str:
    """Why the work is not comparable: within the run when it says so, else against the
    baseline."""
    if within:
        return within
    return " with the baseline (more than 10 % apart): " + "; ".join(baseline_work(checks))


def _print_outcome(
    code: ExitCode,
    checks: Sequence[Check],
    *,
    invalid: Sequence[str] | None,
    unequal: str,
    more_repeats: str,
) -> None:
    """The gate's last line: why it exits `code` (on stderr unless it passed)."""
    failed = sum(c.status == "failed" for c in checks)
    if code == ExitCode.INVALID and invalid is not None:
        print("memdiag gate: invalid run: " + "; ".join(invalid), file=sys.stderr)
    elif code == ExitCode.INVALID:
        print(f"memdiag gate: work not comparable{unequal}", file=sys.stderr)
    elif code == ExitCode.FAILED:
        print(f"memdiag gate: {failed} of {len(checks)} check(s) failed", file=sys.stderr)
    elif code == ExitCode.INCONCLUSIVE:
        print(f"memdiag gate: inconclusive: {more_repeats}", file=sys.stderr)
    else:
        skipped = sum(c.status == "skipped" for c in checks)
        print(
            f"memdiag gate: {len(checks) - skipped} check(s) passed"
            + (f", {skipped} skipped" if skipped else "")
        )


def _baseline_scenarios(path: Path) -> dict[str, Comparison]:
    """A baseline by scenario name: another ablation's, or an ordinary summary's one."""
    other = load_ablation(path)
    if other is not None:
        return ablation_gate.scenarios(other)
    comparison = compare(load_any(path))
    return {module_spelling(comparison.scenario.name): comparison}


def ablation_markdown(checks: list[Check], a: Ablation, code: ExitCode) -> str:
    verdict = _VERDICT.get(code, str(code))
    if code == ExitCode.INVALID and a.valid:
        verdict = "NOT COMPARABLE"
    names = ", ".join(ablation_gate.scenarios(a))
    lines = [f"## memdiag gate: {verdict}", "", f"Ablation {a.name} from {a.plan.base} ({names})."]
    if block := thresholds_block(checks):
        lines += ["", block]
    lines += [""] + [f"Work that differs by design: {w}." for w in ablation_gate.expected_work(a)]
    if code == ExitCode.INVALID:
        lines += [f"Not comparable: {w}." for w in ablation_gate.unequal_work(a)]
        lines += [f"Not comparable with the baseline: {w}." for w in baseline_work(checks)]
        lines += [f"Invalid: {r}." for r in a.invalid_reasons]
    return "\n".join(lines).rstrip() + "\n\n"


def run_ablation(args: argparse.Namespace) -> int:
    """Gate an ablation: its scenarios' runs, --baseline per scenario, --claims."""
    a = load_ablation(args.summary)
    if a is None:  # is_ablation said it was one; a plan with nothing to judge
        raise UsageError(f"{args.summary}: not an ablation folder or summary")
    keys = ablation_gate.parse_claims(args.claims, a)
    if not keys and args.baseline is None:
        # A gate that checks nothing must not pass a build by accident.
        raise UsageError(
            f"{args.summary} is an ablation: gate it with --claims KEY,... (its claims: "
            f"{', '.join(ablation_gate.claim_keys(a))}) and/or --baseline OTHER"
        )
    checks: list[Check] = []
    limits = None
    if args.baseline is not None:
        limits = load_limits(args.config)
        if limits.max_peak_rss_increase_pct is None and not limits.increase_by_config:
            raise UsageError(
                f"--baseline on an ablation needs max_peak_rss_increase_pct in {limits.source}"
            )
        checks += ablation_gate.check_baseline(a, limits, _baseline_scenarios(args.baseline))
    checks += ablation_gate.check_claims(a, keys)
    code = ablation_gate.exit_code(checks, a)
    print(format_checks(checks))
    ignored = ablation_gate.ignored_limits(limits)
    if ignored:
        print(f"\nnot applied to an ablation (compare's limits): {', '.join(ignored)}")
    for line in ablation_gate.expected_work(a):
        print(f"work that differs by design (the switch measured): {line}")
    if summary_file := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(ablation_markdown(checks, a, code))
    within = "; ".join(ablation_gate.unequal_work(a))
    _print_outcome(
        code,
        checks,
        invalid=None if a.valid else a.invalid_reasons,
        unequal=_unequal(": " + within if within else None, checks),
        more_repeats="a claim needs more repeats (memdiag ablate --repeat 4)",
    )
    return code
