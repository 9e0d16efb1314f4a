"""Judge the fix report's claims from an ablation's runs: the claims table (pure).

`evaluate(plan, runs)` groups the runs by scenario, compares each scenario's
configurations (`profiling.verdict.compare.compare`), and for every step of the plan sets the
configuration without the change against the one with it, on the claim's metrics:

- the measured saving: (without - with) / without of the medians, and its range over
  the repeats paired by number (A B A B: repeat r of each ran side by side);
- the verdict of `profiling.verdict.stats.verdict` (effect floors, Mann-Whitney U), read as
  a claim's verdict: "confirmed" (a significant saving at least the claimed one),
  "smaller than claimed", "no measurable effect" (inside the floors or the spread),
  "the opposite" (significantly more), "a cost" (the change raised errors or stale
  replies), "inconclusive" (too few repeats to call, or repeats that disagree on the
  direction), "not measurable in this phase" (a leak claim on too short a phase), or
  "not measured". `claim_checks` holds the rules that keep these words honest; each row
  names the change's hidden costs, and invalid repeats never enter its medians.

The plan travels with the runs as `ablation.json` (`claim_plan`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

from loadtests.names import DASHBOARD
from profiling.fixreport.ablation import CLAIMS, SCENARIOS, AblationPlan, Claim, Step
from profiling.numbers import plain, signed_pct, significant
from profiling.results.folder import RunResult
from profiling.verdict.claim_checks import (
    HARM,
    MIN_GROWTH_PHASE_S,
    harms,
    no_effect_reason,
    phase_too_short,
    repeats_text,
    too_wide,
    unlisted_costs,
)
from profiling.verdict.claim_metrics import (
    CLAIM_METRICS,
    FINAL_RSS,
    LIST_ALLOC_PEAK,
    LIVE_ENTRIES,
    PER_REQUEST,
    PRIMARY_WITH_ATTRIBUTION,
    STALE_REPLIES,
)
from profiling.verdict.claim_plan import PLAN_FILE, plan_document, plan_from_document
from profiling.verdict.compare import Comparison, ConfigResult, Metric, compare
from profiling.verdict.served import run_valid
from profiling.verdict.stats import DEFAULT_ALPHA, verdict

# The claim metrics stay importable from here, where they were defined before.
__all__ = ["CLAIM_METRICS", "FINAL_RSS", "LIST_ALLOC_PEAK", "LIVE_ENTRIES", "PLAN_FILE",
           "STALE_REPLIES", "VERDICTS", "Ablation", "ClaimRow", "evaluate", "plan_document",
           "plan_from_document"]  # fmt: skip
VERDICTS = ("confirmed", "smaller than claimed", "no measurable effect", "the opposite",
            "a cost", "inconclusive", "not measurable in this phase",
            "not measured")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """One claim on one metric: measured against what the report promised."""

    key: str
    change: str
    claim: str
    expected: str
    switch: str  # the overrides flipped, or "all changes (<config>)"
    scenario: str
    metric: str
    metric_title: str
    primary: bool  # the claim's own metric (the others are context)
    with_change: str  # configuration labels
    without_change: str
    n_with: int
    n_without: int
    with_median: float | None
    without_median: float | None
    saving: float | None  # (without - with) / without; positive: the change saves
    saving_low: float | None  # over the paired repeats
    saving_high: float | None
    effect: float | None  # with - without, in the metric's unit
    p_value: float | None
    verdict: str
    detail: str  # the statistics' label ("1.8x less", "inconclusive (n=2, need 4)")
    claimed_low: float | None  # the promise as a fraction of `without` (for the plot)
    claimed_high: float | None
    note: str = ""
    # For an inconclusive claim, the verdict its medians point to if more repeats bore
    # them out ("smaller than claimed"); empty otherwise.
    leaning: str = ""
    # What the change costs on the step's other metrics: each context metric that got
    # significantly worse with it, and any rise in errors or stale replies.
    costs: tuple[str, ...] = ()
    # Repeats left out of the medians because their runs were invalid ("without: runs 1, 2").
    left_out: str = ""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else signed_pct(value * 100)


def effect_text(row: ClaimRow) -> str:
    """'-62 % (420.1 MiB -> 160.3 MiB)': the saving as the change makes it."""
    m = CLAIM_METRICS[row.metric]
    if row.with_median is None or row.without_median is None:
        return "n/a"
    values = f"{m.format(row.without_median)} -> {m.format(row.with_median)}"
    if row.saving is None:
        return f"{m.format_delta(row.effect or 0.0)} ({values})"
    return f"{_pct(-row.saving)} ({values})"


def range_text(row: ClaimRow) -> str:
    if row.saving_low is None or row.saving_high is None:
        return ""
    return f"{_pct(-row.saving_high)} to {_pct(-row.saving_low)}"


def verdict_text(row: ClaimRow) -> str:
    """'inconclusive (n=2, need 4), leaning smaller than claimed' says it all; the others
    name the statistics beside the verdict."""
    text = row.detail if row.detail.startswith(row.verdict) else f"{row.verdict} ({row.detail})"
    text = f"{text}, leaning {row.leaning}" if row.leaning else text
    if row.costs and row.verdict != "a cost":
        text += "; costs: " + "; ".join(row.costs)
    return text


@dataclass(frozen=True, slots=True)
class Ablation:
    name: str
    plan: AblationPlan
    comparisons: tuple[tuple[str, Comparison], ...]  # (scenario load, its comparison)
    claims: tuple[ClaimRow, ...]

    @property
    def valid(self) -> bool:
        return all(c.valid for _, c in self.comparisons)

    @property
    def invalid_reasons(self) -> tuple[str, ...]:
        return tuple(f"{load}: {r}" for load, c in self.comparisons for r in c.invalid_reasons)

    @property
    def comparable(self) -> bool:
        return all(c.comparable for _, c in self.comparisons)


def _by_repeat(conf: ConfigResult, m: Metric) -> dict[int, float]:
    if m.key in PER_REQUEST:
        # Every request of the configuration's attribution run(s) is a sample.
        peaks = [
            p for r in conf.attribution if r.request_peaks for p in r.request_peaks.peaks_bytes
        ]
        return {i: float(p) for i, p in enumerate(peaks)}
    # An invalid repeat's figure is not a measurement: it never enters a claim's median.
    return {r.repeat: v for r in conf.runs if run_valid(r) and (v := m.extract(r)) is not None}


def _left_out(with_conf: ConfigResult | None, without_conf: ConfigResult | None) -> str:
    parts = []
    for side, conf in (("without", without_conf), ("with", with_conf)):
        bad = [r.repeat for r in conf.runs if not run_valid(r)] if conf else []
        if bad:
            parts.append(f"{side} the change: {repeats_text(bad)} invalid, left out")
    return "; ".join(parts)


def _saving(without: float, with_: float) -> float | None:
    return None if without == 0 else (without - with_) / without


def _claimed(claim: Claim, without: float | None) -> tuple[float | None, float | None]:
    e = claim.expected
    if e.kind == "relative":
        return e.low, e.high
    if e.kind == "absolute" and without:
        return (
            None if e.low is None else e.low / without,
            None if e.high is None else e.high / without,
        )
    return None, None


def _claim_verdict(
    claim: Claim, outcome: str, saved: float | None, saving: float | None, best: float | None
) -> str:
    """A significant saving is "confirmed" when the claimed one is within reach: the
    median saving, or the best of the paired repeats (`best`), is at least the claim.
    A claim that expects a cost reads the other way: more is confirmed, less the opposite."""
    if claim.expected.costs:
        outcome = {"better": "worse", "worse": "better"}.get(outcome, outcome)
    if outcome == "missing":
        return "not measured"
    if outcome == "same":
        return "no measurable effect"
    if outcome == "inconclusive":
        return "inconclusive"
    if outcome == "worse":
        return "the opposite"
    e = claim.expected
    if e.low is None or e.kind == "qualitative":
        return "confirmed"
    if e.kind == "relative":
        reach = max(saving or 0.0, best if best is not None else -math.inf)
        return "confirmed" if reach >= e.low else "smaller than claimed"
    return "confirmed" if saved is not None and saved >= e.low else "smaller than claimed"


def _title(m: Metric, load: str) -> str:
    # The dashboard's "status endpoint" is its list request (the busiest GET).
    if load == DASHBOARD.short:
        return m.title.replace("Status poll", "Task-list request")
    return m.title


def _primary(claim: Claim, step: Step, comparison: Comparison, base: str) -> str:
    """The claim's own metric: its first, or the per-request one its attribution runs gave."""
    key = PRIMARY_WITH_ATTRIBUTION.get(claim.key)
    if key is None or key not in claim.metrics:
        return claim.metrics[0]
    confs = [comparison.config(step.spec), comparison.config(base)]
    measured = all(c is not None and _by_repeat(c, CLAIM_METRICS[key]) for c in confs)
    return key if measured else claim.metrics[0]


def _row(
    claim: Claim,
    step: Step,
    comparison: Comparison,
    base: str,
    key: str,
    alpha: float,
    primary_key: str | None = None,
) -> ClaimRow:
    m = CLAIM_METRICS[key]
    ref = step.reference or base
    with_label, without_label = (step.spec, ref) if step.with_change else (ref, step.spec)
    with_conf, without_conf = comparison.config(with_label), comparison.config(without_label)
    w = _by_repeat(with_conf, m) if with_conf else {}
    wo = _by_repeat(without_conf, m) if without_conf else {}
    v = verdict(key, without_label, with_label, list(wo.values()), list(w.values()), m.floor,
                alpha=alpha, difference_unit=m.difference_unit)  # fmt: skip
    saving = saved = None
    paired: list[float] = []
    if v.baseline_median is not None and v.candidate_median is not None:
        saved = v.baseline_median - v.candidate_median
        if m.difference_unit is None:
            saving = _saving(v.baseline_median, v.candidate_median)
        if m.difference_unit is None and key not in PER_REQUEST:  # requests do not pair
            paired = [
                s for r in sorted(set(w) & set(wo)) if (s := _saving(wo[r], w[r])) is not None
            ]
    primary = key == (primary_key or claim.metrics[0])
    best = max(paired, default=None)
    leaning = ""
    if primary and v.outcome == "inconclusive" and v.effect is not None:
        leaning = _claim_verdict(claim, "better" if v.effect < 0 else "worse", saved, saving, best)
    low, high = _claimed(claim, v.baseline_median) if primary else (None, None)
    saving_low = min(paired) if len(paired) > 1 else None
    saving_high = max(paired) if len(paired) > 1 else None
    outcome = _claim_verdict(claim, v.outcome, saved, saving, best) if primary else v.outcome
    detail = v.label
    duration_s = comparison.scenario.duration_s
    if primary and phase_too_short(key, duration_s):
        outcome, leaning = "not measurable in this phase", ""
        detail = (
            f"a growth slope over a {plain(duration_s)} s steady phase cannot show a long-run "
            f"leak; it needs {plain(MIN_GROWTH_PHASE_S)} s or more"
        )
    elif v.outcome == "same" and too_wide(m, saving_low, saving_high):
        outcome = "inconclusive" if primary else v.outcome
        detail = (
            f"the repeats disagree on the direction ({_pct(-(saving_high or 0.0))} to "
            f"{_pct(-(saving_low or 0.0))}"
            + ("" if v.p_value is None else f", p = {significant(v.p_value, 2)}")
            + ")"
        )
    elif v.outcome == "same":
        detail = no_effect_reason(m, v.baseline_median, v.candidate_median, v.p_value)
    elif primary and outcome == "smaller than claimed" and saved is not None:
        measured = (
            _pct(saving)
            if saving is not None and claim.expected.kind == "relative"
            else m.format(saved)
        )
        detail = f"saved {measured.lstrip('+')}, claimed {claim.expected.text}"
    if step.overrides:
        switch = ", ".join(step.overrides)
    elif "@" in step.spec:
        switch = "@" + step.spec.partition("@")[2]  # an allocator, driver or process count
    else:
        switch = f"all changes ({step.spec})"
    return ClaimRow(
        key=step.key, change=claim.change, claim=claim.wording, expected=claim.expected.text,
        switch=switch, scenario=SCENARIOS[step.load].scenario, metric=key,
        metric_title=_title(m, step.load), primary=primary, with_change=with_label,
        without_change=without_label, n_with=len(w), n_without=len(wo),
        with_median=v.candidate_median, without_median=v.baseline_median, saving=saving,
        saving_low=saving_low, saving_high=saving_high,
        effect=v.effect, p_value=v.p_value, verdict=outcome, leaning=leaning,
        detail=detail, claimed_low=low, claimed_high=high, note=claim.note,
        left_out=_left_out(with_conf, without_conf),
    )  # fmt: skip


def _sides(step: Step, base: str) -> tuple[str, str]:
    """(without the change, with it): the configuration labels the step sets side by side."""
    ref = step.reference or base
    return (ref, step.spec) if step.with_change else (step.spec, ref)


def _with_costs(rows: list[ClaimRow], unlisted: Sequence[tuple[str, str]] = ()) -> list[ClaimRow]:
    """The step's primary row names what the change cost on its other metrics; a change
    that raised errors or stale replies reads as a cost, whatever its own metric says."""
    costs, harmed = [], []
    for r in rows[1:]:
        m = CLAIM_METRICS[r.metric]
        if (
            harm := harms(r.metric_title, r.metric, r.without_median, r.with_median, m)
        ) is not None:
            harmed.append(harm)
        elif r.verdict == "worse":
            costs.append(f"{r.metric_title} {effect_text(r)}")
    for key, text in unlisted:
        (harmed if key in HARM else costs).append(text)
    primary = rows[0]
    if harmed:
        primary = replace(
            primary,
            verdict="a cost",
            leaning="",
            detail="; ".join(harmed) + f"; its own metric: {primary.detail}",
            costs=tuple(costs),
        )
    elif costs:
        primary = replace(primary, costs=tuple(costs))
    return [primary, *rows[1:]]


def _unmeasured(claim: Claim, step: Step, base: str) -> ClaimRow:
    m = CLAIM_METRICS[claim.metrics[0]]
    ref = step.reference or base
    with_label, without_label = (step.spec, ref) if step.with_change else (ref, step.spec)
    return ClaimRow(
        key=step.key, change=claim.change, claim=claim.wording, expected=claim.expected.text,
        switch=", ".join(step.overrides) or step.spec, scenario=SCENARIOS[step.load].scenario,
        metric=m.key, metric_title=_title(m, step.load), primary=True, with_change=with_label,
        without_change=without_label, n_with=0, n_without=0, with_median=None,
        without_median=None, saving=None, saving_low=None, saving_high=None, effect=None,
        p_value=None, verdict="not measured", detail="no run of its scenario finished",
        claimed_low=None, claimed_high=None, note=claim.note,
    )  # fmt: skip


def evaluate(
    p: AblationPlan, runs: Sequence[RunResult], *, name: str = "", alpha: float = DEFAULT_ALPHA
) -> Ablation:
    """The comparisons per scenario and the claims table for `p` over `runs`."""
    comparisons: list[tuple[str, Comparison]] = []
    rows: list[ClaimRow] = []
    for load in p.loads():
        scenario = SCENARIOS[load].scenario
        group = [r for r in runs if r.scenario.name == scenario]
        if not group:
            # The schedule stopped before this scenario (Ctrl-C, a harness failure).
            rows += [_unmeasured(CLAIMS[s.claim], s, p.base) for s in p.steps if s.load == load]
            continue
        comparison = compare(group, name=f"{name} {scenario}".strip(), alpha=alpha)
        comparisons.append((load, comparison))
        for step in (s for s in p.steps if s.load == load):
            claim = CLAIMS[step.claim]
            own = _primary(claim, step, comparison, p.base)
            keys = [own, *(k for k in claim.metrics if k != own)]
            found = _with_costs(
                [_row(claim, step, comparison, p.base, k, alpha, own) for k in keys],
                unlisted_costs(
                    comparison, keys, *_sides(step, p.base), title=partial(_title, load=step.load)
                ),
            )
            # A per-request context metric without its attribution runs has no row at all.
            rows += [
                r
                for r in found
                if r.primary or r.metric not in PER_REQUEST or r.n_with or r.n_without
            ]
    return Ablation(name, p, tuple(comparisons), tuple(rows))


def claims_document(a: Ablation) -> list[dict[str, Any]]:
    return [asdict(r) for r in a.claims]
