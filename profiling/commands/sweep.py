"""memdiag sweep: the same configurations over a range of one parameter, for scaling charts."""

from __future__ import annotations

import argparse
from dataclasses import replace

from loadtests.options import check_option
from profiling.commands.finish import comparison_reporter, finish
from profiling.errors import UsageError
from profiling.run.options import (
    ENV_NOTE,
    add_load_arguments,
    add_output_arguments,
    add_server_arguments,
    default_users,
    load_plan,
    output_dir,
    server_plan,
)
from profiling.run.preflight import preflight
from profiling.run.progress import RichProgress
from profiling.run.runner import Job, LoadPlan, run_schedule, schedule
from profiling.run.servers import (
    DEFAULT_CONFIGS,
    RUNTIME_HELP,
    check_configurations,
    parse_configurations,
)
from profiling.run.settings import LoadSettings, ServerSettings, from_args

HELP = "measure configurations over a range of one parameter (rate, users, segments...)"
DESCRIPTION = (
    HELP + ".\n\n--param rate or users varies the load; any other name is a scenario option "
    "(-O NAME=VALUE), e.g. --param segments --values 1000,3000,5000. The report adds "
    "peak RSS and status p99 against the parameter. In polling-storm and frontend-tabs "
    "--param users varies the tabs (open connections) at the same rate: each tab polls "
    "every users / rate seconds, so the sweep gives peak RSS per open connection per "
    "configuration (the Work table shows the connections each point held).\n\n"
    + ENV_NOTE
    + "\n\nexample: memdiag sweep --configs db-polling,lean --param rate --values 5,10,20"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--configs",
        default=DEFAULT_CONFIGS,
        help=f"configurations to sweep, mode[:switch=value,...][@item+item] ({RUNTIME_HELP})",
    )
    parser.add_argument("--param", required=True, help="rate, users, or a scenario option name")
    parser.add_argument("--values", required=True, help="comma-separated values, e.g. 5,10,20")
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per point")
    add_load_arguments(parser)
    add_server_arguments(parser)
    add_output_arguments(parser, profile=False)


def _number(text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--values: {text!r} is not a number") from None
    return int(value) if value.is_integer() else value


def plan_for(base: LoadPlan, param: str, value: int | float) -> LoadPlan:
    if param == "rate":
        if value <= 0:
            raise UsageError(f"--values: a rate of {value} per second is not > 0")
        return replace(base, rate_per_s=float(value))
    if param == "users":
        if value < 1:
            raise UsageError(f"--values: {value} users is not >= 1")
        return replace(base, users=int(value))
    return replace(base, options={**base.options, param.replace("-", "_"): value})


def run(args: argparse.Namespace) -> int:
    configs = parse_configurations(args.configs)
    values = [_number(v.strip()) for v in args.values.split(",") if v.strip()]
    if len(values) < 2:
        raise UsageError(f"--values {args.values!r}: a sweep needs at least two values")
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: need at least 1")
    load = from_args(LoadSettings, args)
    base = load_plan(load)
    custom = args.param not in ("rate", "users") and base.scenario is not None
    if custom and (why := check_option(args.param.replace("-", "_"), values[0])) is not None:
        raise UsageError(f"--param {args.param}: {why}")
    if args.param == "rate" and load.users is None:
        # One user count for every point, enough for the highest rate, so only the rate varies.
        base = replace(base, users=default_users(float(max(values)), base.scenario, base.options))
    sweep_param = {"rate": "target_rate_per_s", "users": "users"}.get(
        args.param, args.param.replace("-", "_")
    )
    jobs: list[Job] = []
    for value in values:
        plan = plan_for(base, args.param, value)
        jobs += schedule(
            configs, args.repeat, plan, sweep_param=sweep_param, start_order=len(jobs) + 1
        )
    server = server_plan(
        from_args(ServerSettings, args)
    )  # before the output folder: a bad option creates nothing
    check_configurations(configs, server.extra_args)  # every argument, before anything starts
    out = output_dir(args, f"sweep-{args.param}")
    jobs = preflight(jobs, load)  # one size for every point and configuration
    progress = RichProgress(len(jobs))
    try:
        outcome = run_schedule(jobs, out, server, progress=progress)
    finally:
        progress.close()
    name = args.name or out.name
    return finish(outcome, out, comparison_reporter(name), html=not args.no_html)
