"""Find the highest arrival rate a scenario sustains against a running server.

Steps the rate up (doubling, then bisecting between the last good and first bad
rate) and runs the scenario at each step through `loadtests.runner`; a step is
sustained when its steady phase met the rate within 5 %, had no failures and the
load generator was not saturated. Prints one line per step and the answer; what
broke first (rate, latency, generator CPU) is in each line.

    python -m loadtests.capacity --host http://127.0.0.1:8080/ --scenario polling_storm \
        --start 25 --max 1600 --users 200 --duration 10 --warmup 2 [--processes 2] \
        [--option segments=500 ...] [--pause 10] [--out reports/capacity]

An overloaded server keeps working off its backlog after a step ends; `--pause` gives
it time to drain so that the next (lower) step is not judged on the previous one's queue.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from loadtests.names import POLLING_STORM
from loadtests.results import LoadResult
from loadtests.runner import RATE_OPTION, SCENARIOS, LoadRunError, LoadSpec, LoadSpecError, run_load


def _option(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option {text!r}: write NAME=VALUE, e.g. segments=500")
    return name.replace("-", "_"), value


def sustained(result: LoadResult) -> bool:
    return result.steady.failures == 0 and not result.problems()


def describe(rate: float, result: LoadResult) -> str:
    steady = result.steady
    stream = steady.streams[RATE_OPTION[result.scenario].removesuffix("_rate")]
    busiest = max(steady.endpoints.values(), key=lambda e: e.requests, default=None)
    latency = (
        f"p50 {busiest.p50_ms:.1f} ms p99 {busiest.p99_ms:.1f} ms" if busiest else "no replies"
    )
    verdict = (
        "ok"
        if sustained(result)
        else "NOT sustained: "
        + "; ".join(result.problems() or [f"{steady.failures} failures {steady.failures_by_name}"])
    )
    cpu = ", ".join(f"{x.role} {x.cpu_percent_mean:.0f}%" for x in result.generator.processes)
    return (
        f"rate {rate:g}/s: achieved {stream.achieved_per_s:.1f}/s"
        f" ({stream.achieved_ratio:.1%}), late {stream.late_sends}/{stream.sends},"
        f" {latency}, generator CPU {cpu} -> {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.capacity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", required=True, help="base URL of the running server")
    parser.add_argument("--scenario", choices=SCENARIOS, default=POLLING_STORM.module_name)
    parser.add_argument("--start", type=float, default=25.0, help="first rate per second")
    parser.add_argument("--max", type=float, default=3200.0, help="highest rate to try")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10.0, help="steady seconds per step")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per step")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--bisect", type=int, default=2, help="bisection steps after doubling")
    parser.add_argument(
        "--pause",
        type=float,
        default=10.0,
        help="seconds between steps, so an overloaded server drains first",
    )
    parser.add_argument("--option", type=_option, action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("reports/capacity"))
    args = parser.parse_args(argv)

    steps: list[float] = []

    def run(rate: float) -> bool:
        if steps:
            time.sleep(args.pause)
        steps.append(rate)
        spec = LoadSpec(host=args.host, scenario=args.scenario, users=args.users,
                        rate_per_s=rate, duration_s=args.duration, warmup_s=args.warmup,
                        processes=args.processes, options=dict(args.option))  # fmt: skip
        result = run_load(spec, args.out / f"rate-{rate:g}")
        print(describe(rate, result), flush=True)
        return sustained(result)

    try:
        good, bad, rate = 0.0, 0.0, args.start
        while rate <= args.max:
            if not run(rate):
                bad = rate
                break
            good, rate = rate, rate * 2
        for _ in range(args.bisect if bad else 0):
            mid = round((good + bad) / 2)
            if mid in (good, bad):
                break
            good, bad = (mid, bad) if run(mid) else (good, mid)
    except (LoadSpecError, LoadRunError) as exc:
        print(f"capacity: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"highest sustained rate: {good:g}/s" + (f" (failed at {bad:g}/s)" if bad else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
