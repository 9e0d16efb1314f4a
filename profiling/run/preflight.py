"""The pre-flight: fit the polling scenarios' task size to this machine before any run starts.

The storm's work only measures the designs if the heaviest of them keeps up: a db-polling
server that cannot answer the poll rate queues polls, and the run is invalid (or, worse,
its memory is that of a queue). How much it can answer depends on the machine. So before
`memdiag compare`, `measure`, `sweep` or `ablate` start a DB or a server, the pre-flight
times, in this process, db-polling's per-poll work on a task of the polled size (a
`bson.decode`, a `json.dumps` and a `bson.encode`: `profiling.probes.pollcpu`) and
estimates its CPU at the target rate: rate x per-poll CPU x `OTHER_WORK_FACTOR`.

- Size not fixed by the user (no `-O initial_segments=N`): the largest size of the
  ladder (the scenario's own default first, then `LADDER_SEGMENTS` below it) whose
  estimate stays within `BUDGET_CORES` at every load of the run, the same size for every
  configuration (and every point of a sweep, fitted to its highest rate; a point whose
  tasks are smaller keeps its size). When not even the smallest fits within
  `LIMIT_CORES`, the run could not keep up: refused.
- Size fixed by the user: checked; above `LIMIT_CORES` the run is refused (UsageError,
  exit 2) with a one-line remedy, a rate or a size that fits the budget.

The DB's own read is left to the calibration every run makes after its load
(`profiling.run.state`): starting a DB here would cost more than the whole pre-flight,
which takes 0.5 to 1.5 s here (one to three sizes timed).
The decision (`fit_size`, `check_fixed`, the lines) is pure; `preflight_jobs` adds the
timing and rewrites the jobs' load plans.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from loadtests.defaults import SCENARIO_DEFAULTS, polled_task_size
from loadtests.runner import RATE_OPTION
from profiling.errors import UsageError
from profiling.probes.pollcpu import PollCost, time_poll
from profiling.results.folder import MIB, PreflightFigures
from profiling.run.plans import Job, LoadPlan
from profiling.run.settings import LoadSettings

LADDER_SEGMENTS = (1000, 700, 500, 300, 200)
BUDGET_CORES = 0.5  # the fit's target: db-polling well below a full core, with margin
LIMIT_CORES = 1.0  # above this the server cannot answer the rate at all
# The server's work besides decode, JSON and encode (HTTP, auth, the driver's threads,
# the worker's writes), as a multiple of the timed work. Measured: db-polling's server
# CPU per answered poll (`memdiag measure --mode db-polling --duration 15 --warmup 10
# -O initial_segments=N`) against the pre-flight's estimate of the same run, at 1,000,
# 700, 500 and 300 segments: 1.51x, 1.33x, 1.39x and 2.0x (the smallest size is the
# most overhead-bound), on a shared machine at a load of 5 to 7 on 2 CPUs. The median,
# 1.45, rounded up.
OTHER_WORK_FACTOR = 1.5
# Larger tasks are timed at this size and scaled: building and timing a 20,000-segment
# document would take longer than the pre-flight may.
MEASURE_CAP_SEGMENTS = 1000

CostOf = Callable[[int, int], PollCost]  # (segments, words per segment) -> its cost


@dataclass(frozen=True, slots=True)
class Demand:
    """One polling load of the run, as the pre-flight sees it."""

    rate_per_s: float  # status polls per second
    words_per_segment: int
    default_segments: int  # the polled size with the scenario's own initial_segments
    fixed_segments: int | None = None  # the user's polled size (-O initial_segments=N)

    def applied(self, fitted_segments: int) -> int:
        """The size this load polls under a fitted size: never more than its own (a sweep
        over `segments` keeps its smaller points as they are)."""
        return min(fitted_segments, self.default_segments)


def cores(cost: PollCost, rate_per_s: float, factor: float = OTHER_WORK_FACTOR) -> float:
    """db-polling's estimated CPU at `rate_per_s`, in cores."""
    return rate_per_s * cost.per_poll_s * factor


def ladder(default_segments: int) -> tuple[int, ...]:
    """The sizes tried, largest first: the scenario's default, then the rungs below it."""
    return (default_segments, *(s for s in LADDER_SEGMENTS if s < default_segments))


def fit_size(
    demands: Sequence[Demand], cost_of: CostOf, budget_cores: float = BUDGET_CORES
) -> int | None:
    """The largest ladder size whose estimate fits `budget_cores` at every demand; None
    when not even the smallest does. Costs are asked for largest first, so a machine
    that fits the default times one size only."""
    if not demands:
        return None
    for size in ladder(max(d.default_segments for d in demands)):
        if all(
            cores(cost_of(d.applied(size), d.words_per_segment), d.rate_per_s) <= budget_cores
            for d in demands
        ):
            return size
    return None


def fitting_rate(cost: PollCost, budget_cores: float = BUDGET_CORES) -> float:
    """The highest round rate (one decimal, at least 0.1/s) that fits the budget."""
    rate = budget_cores / (cost.per_poll_s * OTHER_WORK_FACTOR)
    return max(0.1, int(rate * 10) / 10)


def _mib(doc_bytes: int) -> str:
    return f"{doc_bytes / MIB:.1f} MiB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def check_fixed(demand: Demand, cost_of: CostOf) -> str | None:
    """The one-line refusal for a user's size that db-polling cannot serve at its rate
    (estimate above `LIMIT_CORES`), naming a rate and a size that fit; else None."""
    assert demand.fixed_segments is not None
    cost = cost_of(demand.fixed_segments, demand.words_per_segment)
    need = cores(cost, demand.rate_per_s)
    if need <= LIMIT_CORES:
        return None
    at_rate = Demand(demand.rate_per_s, demand.words_per_segment, max(LADDER_SEGMENTS))
    # The remedy's size is scaled from the cost just timed rather than timed rung by rung:
    # a refusal stays as quick as the check, and scaling down errs on the safe side.
    size = fit_size([at_rate], lambda segments, _words: cost.scaled(segments))
    remedy = f"use --rate {fitting_rate(cost):g}" + (
        f" or -O initial_segments={size}"
        if size is not None
        else f" (at {demand.rate_per_s:g}/s not even {min(LADDER_SEGMENTS)}-segment tasks fit)"
    )
    return (
        f"pre-flight: db-polling would need about {_cores(need)} to poll "
        f"{demand.fixed_segments}-segment tasks ({_mib(cost.doc_bytes)}) at "
        f"{demand.rate_per_s:g}/s on this machine ({_ms(cost.per_poll_s)} of CPU a poll), "
        f"so the run could not keep up; {remedy} (or --no-preflight to run it anyway)"
    )


def _cores(share: float) -> str:
    return f"{share * 100:.0f} % of a core" if share < 2 else f"{share:.0f} cores"


def fitted_line(top: PollCost, chosen: PollCost, rate_per_s: float) -> str:
    """The line a fitted run prints and its report shows."""
    share = cores(chosen, rate_per_s)
    head = f"pre-flight: this machine decodes a {_mib(top.doc_bytes)} task in {_ms(top.decode_s)}"
    if share > BUDGET_CORES:
        return (
            f"{head}; polling {chosen.segments}-segment tasks ({_mib(chosen.doc_bytes)}), the "
            f"smallest tried: db-polling at about {share * 100:.0f} % of a core at "
            f"{rate_per_s:g} polls/s, above {_share_words(BUDGET_CORES)}: tight"
        )
    what = "the default " if chosen.segments == top.segments else ""
    return (
        f"{head}; polling {what}{chosen.segments}-segment tasks ({_mib(chosen.doc_bytes)}) so "
        f"db-polling stays under {_share_words(BUDGET_CORES)} at {rate_per_s:g} polls/s "
        f"(estimate {share * 100:.0f} %)"
    )


def fixed_line(cost: PollCost, rate_per_s: float) -> str:
    """The line of a run whose size the user fixed (and that can keep up)."""
    share = cores(cost, rate_per_s)
    warn = "" if share <= BUDGET_CORES else f", above {_share_words(BUDGET_CORES)}: tight"
    return (
        f"pre-flight: polling {cost.segments}-segment tasks ({_mib(cost.doc_bytes)}, as "
        f"set) at {rate_per_s:g}/s: db-polling at about {share * 100:.0f} % of a core{warn}"
    )


def _share_words(share: float) -> str:
    return "half a core" if share == 0.5 else f"{share * 100:.0f} % of a core"


def busy_line(load_1m: float, cpus: int | None) -> str | None:
    """A warning when the host runs more than it has CPUs for: the estimate is the CPU the
    server needs, which a busy machine may not have free."""
    if not cpus or load_1m <= cpus:
        return None
    return (
        f"pre-flight: this machine is busy (load {load_1m:.1f} on {cpus} CPUs): the estimate "
        "is the CPU db-polling needs, not what is free; its runs may still fall short"
    )


def figures(cost: PollCost, rate_per_s: float, *, fitted: bool, text: str) -> PreflightFigures:
    return PreflightFigures(
        segments=cost.segments,
        words_per_segment=cost.words_per_segment,
        doc_bytes=cost.doc_bytes,
        decode_ms=round(cost.decode_s * 1000, 3),
        dumps_ms=round(cost.dumps_s * 1000, 3),
        encode_ms=round(cost.encode_s * 1000, 3),
        rate_per_s=rate_per_s,
        cpu_share=round(cores(cost, rate_per_s), 4),
        budget_share=BUDGET_CORES,
        fitted=fitted,
        text=text,
    )


# --- the jobs of a command ---------------------------------------------------------------


def demand_of(plan: LoadPlan) -> Demand | None:
    """The plan's polling load, if it is a built-in scenario whose main stream is status
    polls of pre-grown tasks (the storm, the tabs, the soak); else None."""
    scenario = plan.scenario
    if plan.locustfile is not None or scenario is None:
        return None
    own = SCENARIO_DEFAULTS.get("frontend_tabs" if scenario == "soak" else scenario, {})
    if RATE_OPTION.get(scenario) != "poll_rate" or int(own.get("initial_segments", 0)) <= 0:
        return None
    size = polled_task_size(scenario, plan.options)
    default = polled_task_size(
        scenario, {k: v for k, v in plan.options.items() if k != "initial_segments"}
    )
    if size is None or default is None:
        return None
    rate = float(plan.options.get("poll_rate", plan.rate_per_s))
    fixed = size[0] if "initial_segments" in plan.options else None
    return Demand(rate, size[1], default[0], fixed)


class _Timer:
    """Times each (size, words) once; sizes above the cap are scaled from the cap's."""

    def __init__(self, time_one: CostOf) -> None:
        self.time_one = time_one
        self.cache: dict[tuple[int, int], PollCost] = {}

    def __call__(self, segments: int, words: int) -> PollCost:
        timed = min(segments, MEASURE_CAP_SEGMENTS)
        if (timed, words) not in self.cache:
            self.cache[timed, words] = self.time_one(timed, words)
        cost = self.cache[timed, words]
        return cost if timed == segments else cost.scaled(segments)


def preflight_jobs(
    jobs: Sequence[Job],
    *,
    time_one: CostOf = time_poll,
    say: Callable[[str], None] | None = None,
    load_1m: float | None = None,
) -> list[Job]:
    """`jobs` with their polling loads fitted (and their pre-flight recorded); raises
    UsageError when a fixed size cannot be served. Jobs of other scenarios pass as they are.
    `load_1m`: the host's load average (default: read now), for the busy-machine warning."""
    say = say or _stderr
    cost_of = _Timer(time_one)
    demands = {i: d for i, job in enumerate(jobs) if (d := demand_of(job.load)) is not None}
    # Every fixed size first: a refusal must come before the fit prints its line.
    fixed_lines: dict[int, PreflightFigures] = {}
    for i, d in demands.items():
        if d.fixed_segments is None:
            continue
        if (refusal := check_fixed(d, cost_of)) is not None:
            raise UsageError(refusal)
        cost = cost_of(d.fixed_segments, d.words_per_segment)
        fixed_lines[i] = figures(
            cost, d.rate_per_s, fitted=False, text=fixed_line(cost, d.rate_per_s)
        )
    free = {i: d for i, d in demands.items() if d.fixed_segments is None}
    fitted: dict[int, tuple[int, PreflightFigures]] = {}
    if free:
        size = fit_size(list(free.values()), cost_of) or min(
            ladder(max(d.default_segments for d in free.values()))
        )
        # The line speaks of the heaviest load (a rate sweep's highest rate).
        heaviest = max(
            free.values(),
            key=lambda d: cores(cost_of(d.applied(size), d.words_per_segment), d.rate_per_s),
        )
        cost = cost_of(heaviest.applied(size), heaviest.words_per_segment)
        if cores(cost, heaviest.rate_per_s) > LIMIT_CORES:
            raise UsageError(
                f"pre-flight: even {cost.segments}-segment tasks ({_mib(cost.doc_bytes)}) need "
                f"about {_cores(cores(cost, heaviest.rate_per_s))} for db-polling at "
                f"{heaviest.rate_per_s:g}/s on this machine; use --rate "
                f"{fitting_rate(cost):g} (or --no-preflight to run it anyway)"
            )
        top = cost_of(heaviest.default_segments, heaviest.words_per_segment)
        text = fitted_line(top, cost, heaviest.rate_per_s)
        say(text)
        for i, d in free.items():
            mine = cost_of(d.applied(size), d.words_per_segment)
            fitted[i] = (mine.segments, figures(mine, d.rate_per_s, fitted=True, text=text))
    for line in dict.fromkeys(f.text for f in fixed_lines.values()):
        say(line)
    load_1m = os.getloadavg()[0] if load_1m is None else load_1m
    if demands and (busy := busy_line(load_1m, os.cpu_count())) is not None:
        say(busy)
    out = list(jobs)
    for i, d in demands.items():
        plan = out[i].load
        if i in fixed_lines:
            plan = replace(plan, preflight=fixed_lines[i])
        elif i in fitted:
            segments, record = fitted[i]
            options = dict(plan.options)
            if segments != d.default_segments:
                options["initial_segments"] = segments
            plan = replace(plan, options=options, preflight=record)
        out[i] = replace(out[i], load=plan)
    return out


def preflight(jobs: Sequence[Job], load: LoadSettings) -> list[Job]:
    """The commands' entry: `preflight_jobs` unless --no-preflight (MEMDIAG_NO_PREFLIGHT)."""
    if load.no_preflight:
        return list(jobs)
    return preflight_jobs(jobs)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
