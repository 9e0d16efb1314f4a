"""The end of `memdiag compare` for users' own servers and git revisions.

Not a subcommand: `compare` hands over here when --server or --rev is given, or when
--tolerance asks for the three-way verdict. Every run goes through the ordinary runner
and the ordinary reports (`finish`); with --tolerance the first two configurations are
measured as a pair, adding interleaved runs while the verdict is unknown and the
--budget allows, and the verdict is printed, appended to report.md and decides the
exit code (0 same or better, 1 regression, 4 unknown; 3 when a run was invalid).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from profiling.commands.finish import comparison_reporter, finish
from profiling.errors import ExitCode, UsageError
from profiling.run.builds import parse_duration_s, tolerance_of
from profiling.run.options import load_plan, output_dir, server_plan
from profiling.run.progress import RichProgress
from profiling.run.runner import run_schedule, schedule
from profiling.run.sequential import METRICS, check_metric, measure_pair
from profiling.run.servers import Configuration, check_configurations
from profiling.run.settings import LoadSettings, ServerSettings, from_args
from profiling.verdict.equivalence import ThreeWay

EXIT = {"regression": ExitCode.FAILED, "unknown": ExitCode.INCONCLUSIVE}


def run_builds(args: argparse.Namespace, configs: list[Configuration]) -> int:
    plan = load_plan(from_args(LoadSettings, args))
    server = server_plan(from_args(ServerSettings, args))
    check_configurations(configs, server.extra_args)
    out = output_dir(args, "compare")
    name = args.name or out.name
    if args.tolerance is None:
        jobs = schedule(configs, args.repeat, plan, profile=args.profile)
        progress = RichProgress(len(jobs))
        try:
            outcome = run_schedule(jobs, out, server, progress=progress)
        finally:
            progress.close()
        return finish(outcome, out, comparison_reporter(name), html=not args.no_html)
    if len(configs) != 2:
        raise UsageError(f"--tolerance compares two builds; {len(configs)} were given")
    tolerance = tolerance_of(args.tolerance)
    metric = check_metric(args.metric)
    budget_s = parse_duration_s(args.budget) if args.budget else None
    repeat = max(args.repeat, 3)  # fewer than 3 a side can never be "same"
    progress = RichProgress(2 * repeat)
    try:
        pair = measure_pair(
            configs[0],
            configs[1],
            plan,
            out,
            server,
            repeat=repeat,
            tolerance=tolerance,
            metric=metric,
            budget_s=budget_s,
            progress=progress,
        )
    finally:
        progress.close()
    code = finish(pair.outcome, out, comparison_reporter(name), html=not args.no_html)
    if pair.verdict is None:
        print("memdiag: no three-way verdict: a side has no valid run")
        return code or ExitCode.INVALID
    line = verdict_line(configs[0].label, configs[1].label, pair.verdict, metric)
    print(line)
    _append(out / "report.md", line, pair.verdict)
    return code or EXIT.get(pair.verdict.verdict, ExitCode.OK)


def verdict_line(baseline: str, candidate: str, v: ThreeWay, metric: str) -> str:
    return (
        f"Three-way verdict, {candidate} against {baseline} on {METRICS[metric]}:"
        f" {v.verdict.upper()} ({v.reason}; n={v.n_baseline}/{v.n_candidate}, "
        f"p={v.p_value:.3g})"
    )


def _append(report: Path, line: str, v: ThreeWay) -> None:
    if not report.is_file():
        return
    text = report.read_text(encoding="utf-8").rstrip("\n")
    interval = (
        f"{v.interval.confidence:.0%} interval of the ratio"
        if v.interval is not None
        else "no interval"
    )
    section = (
        "\n\n## Three-way verdict\n\n"
        f"{line}\n\n"
        f"Same means the {interval} (Hodges-Lehmann, over the runs' pairwise ratios) lies"
        f" inside ±{v.tolerance:.0%}; regression means it lies above 1 and the estimate"
        f" above +{v.tolerance:.0%}; otherwise unknown: more runs would tell.\n"
    )
    report.write_text(text + section, encoding="utf-8")
