"""Sequential sampling for a pair of builds: interleaved pairs of runs until a verdict.

`measure_pair` runs baseline and candidate interleaved (A B A B ...) `repeat` times,
then, while the three-way verdict (`profiling.verdict.equivalence`) is "unknown" and
the budget has time for one more pair (judged by the pairs so far), adds one more pair.
Each run is an ordinary `measure_run` into the same folder, so the report, `diff` and
`gate` see an ordinary comparison. An invalid run gives no sample (its reason is kept).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from profiling.errors import UsageError
from profiling.results.folder import RunResult
from profiling.run.plans import Job, LoadPlan, Outcome, Progress, ServerPlan
from profiling.run.runner import run_schedule
from profiling.run.servers import Configuration
from profiling.verdict.equivalence import ThreeWay, three_way

# A command server is sampled as its whole process tree (a shell, a launcher, forked
# workers): its peak is the sum of each member's VmHWM, an upper bound of the tree's
# simultaneous peak that a forked worker cannot hide from.
METRICS = {
    "peak_rss": "peak RSS (kernel high-water mark summed over the server's process tree)",
    "median_rss": "median RSS (steady phase)",
    "final_rss": "final RSS (steady phase)",
}


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UsageError(f"--metric {metric!r}: use one of {', '.join(METRICS)}")
    return metric


def metric_value(run: RunResult, metric: str) -> float | None:
    """The run's figure for `metric` (bytes), None for an invalid or unsampled run."""
    mem = run.memory.get("server")
    if not run.valid or mem is None:
        return None
    if metric == "peak_rss":
        return float(mem.kernel_peak_bytes or mem.sampled_peak_bytes)
    if metric == "median_rss":
        return float(mem.median_bytes)
    return float(mem.final_bytes)


def samples(runs: Sequence[RunResult], label: str, metric: str) -> list[float]:
    values = (metric_value(r, metric) for r in runs if r.configuration == label)
    return [v for v in values if v is not None and v > 0]


@dataclass(frozen=True, slots=True)
class PairResult:
    outcome: Outcome
    verdict: ThreeWay | None  # None: a side has no valid run at all
    rounds: int


def measure_pair(
    baseline: Configuration,
    candidate: Configuration,
    load: LoadPlan,
    out: Path,
    server: ServerPlan,
    *,
    repeat: int,
    tolerance: float,
    metric: str,
    budget_s: float | None = None,
    progress: Progress | None = None,
    max_rounds: int = 30,
) -> PairResult:
    started = time.monotonic()
    runs: list[RunResult] = []
    order = 1
    rounds = 0
    verdict: ThreeWay | None = None
    outcome = Outcome([])
    while rounds < max_rounds:
        batch = repeat if rounds == 0 else 1
        jobs = []
        for _ in range(batch):
            rounds += 1
            for config in (baseline, candidate):
                jobs.append(Job(config, rounds, order, "none", load))
                order += 1
        outcome = run_schedule(jobs, out, server, progress=progress)
        runs += outcome.runs
        if outcome.interrupted:
            break
        a, b = samples(runs, baseline.label, metric), samples(runs, candidate.label, metric)
        verdict = three_way(a, b, tolerance) if a and b else None
        if verdict is not None and verdict.decided:
            break
        elapsed = time.monotonic() - started
        per_round = elapsed / rounds
        if budget_s is None or elapsed + per_round > budget_s:
            break
    return PairResult(Outcome(runs, outcome.interrupted), verdict, rounds)
