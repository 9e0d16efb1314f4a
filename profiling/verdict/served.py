"""Whether a run did the work it was asked for, judged on what the server *served* (pure).

The load generator counts what it sent; a design that cannot keep up answers fewer polls
than were sent (measured: db-polling at 20 polls/s sent 20.0 and served 17.2), and the
requests still queued at the phase's end never count as latency either. So a run is valid
only if its served status-poll rate falls short of its own target by no more than
`RATE_TOLERANCE` (scenarios that poll every listed task serve more by design), and
`profiling.verdict.comparable.missed_target` marks a configuration whose served rate falls
short by more than `WORK_TOLERANCE`: the side that missed its target is the one marked,
whichever is the baseline, and each sweep point is judged against the target it was run at.

Older records whose runs were marked valid on the sent rate are judged again here when
they are loaded into a comparison, so no report calls such a run valid.
"""

from __future__ import annotations

from loadtests.results import RATE_TOLERANCE
from profiling.numbers import fixed, plain, signed_pct, whole_pct
from profiling.results.model import RunResult


def served_rate(run: RunResult) -> float | None:
    """The status polls/s the server answered in the steady phase; None when not recorded,
    or when the target paces something else (task submissions in a scenario whose tasks
    live their whole life in the run: they poll as their tasks ask)."""
    w = run.work
    return None if w is None or w.tasks_end_in_run else w.polls_per_s


def target_rate(run: RunResult) -> float:
    return run.scenario.target_rate_per_s


def missed_by(served_per_s: float, target_per_s: float) -> float | None:
    """Served over target minus one (-0.14: 14 % short); None without a target."""
    return None if target_per_s <= 0 else served_per_s / target_per_s - 1.0


def served_problem(run: RunResult, tolerance: float = RATE_TOLERANCE) -> str | None:
    """Why the run did not serve its rate, or None when it did (or nothing says)."""
    served = served_rate(run)
    off = None if served is None else missed_by(served, target_rate(run))
    # Only a shortfall: scenarios that poll every listed task serve more by design.
    if served is None or off is None or off >= -tolerance:
        return None
    return (
        f"served {fixed(served)} of {plain(target_rate(run))} status polls/s "
        f"({signed_pct(off * 100, 1)}, more than {whole_pct(tolerance)} off; the load sent "
        f"{fixed(run.load.achieved_rate_per_s)}/s)"
    )


def run_problems(run: RunResult) -> tuple[str, ...]:
    """Every reason the run is not a valid measurement: its own, then the served rate."""
    own = run.invalid_reasons or (() if run.valid else ("marked invalid",))
    served = served_problem(run)
    if served is None or any(reason.startswith("served ") for reason in own):
        return tuple(own)
    return (*own, served)


def run_valid(run: RunResult) -> bool:
    return not run_problems(run)
