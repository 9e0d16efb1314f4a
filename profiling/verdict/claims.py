"""Judge the fix report's claims from an ablation's runs: the claims table (pure).

`evaluate(plan, runs)` groups the runs by scenario, compares each scenario's
configurations (`profiling.verdict.compare.compare`), and for every step of the plan sets the
configuration without the change against the one with it, on the claim's metrics:

- the measured saving: (without - with) / without of the medians, and its range over
  the repeats paired by number (A B A B: repeat r of each ran side by side);
- the verdict of `profiling.verdict.stats.verdict` (effect floors, Mann-Whitney U), read as
  a claim's verdict: "confirmed" (a significant saving at least the claimed one),
  "smaller than claimed", "no measurable effect" (inside the floors or the spread),
  "the opposite" (significantly more), "inconclusive" (too few repeats to call),
  or "not measured".

The plan travels with the runs as `ablation.json` in the run folder, so a folder can be
judged again without the command that made it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from profiling.fixreport.ablation import CLAIMS, SCENARIOS, AblationPlan, Claim, Step
from profiling.results.folder import MIB, SCHEMA_VERSION, RunResult
from profiling.results.validate import SchemaError
from profiling.verdict.compare import METRICS_BY_KEY, Comparison, ConfigResult, Metric, compare
from profiling.verdict.stats import DEFAULT_ALPHA, EffectFloor, verdict

PLAN_FILE = "ablation.json"
VERDICTS = ("confirmed", "smaller than claimed", "no measurable effect", "the opposite",
            "inconclusive", "not measured")  # fmt: skip


def _final_rss(run: RunResult) -> float | None:
    server = run.memory.get("server")
    return None if server is None else float(server.final_bytes)


# What a task leaves behind once it ended: RSS when the run stops (after the cool-down).
FINAL_RSS = Metric(
    "final_rss_bytes", "Final RSS (server, end of cool-down)", "bytes",
    EffectFloor(relative=0.05, absolute=5 * MIB), _final_rss,
)  # fmt: skip


def _live_entries(run: RunResult) -> float | None:
    return None if run.live_entries is None else float(sum(run.live_entries.values()))


# What the four per-task dicts still hold: the structures changes 6 and 8 empty. (The
# "requests" unit formats a plain count.)
LIVE_ENTRIES = Metric(
    "live_entries", "Entries left in the four per-task dicts (steady end)", "requests",
    EffectFloor(relative=0.10, absolute=1.0), _live_entries,
)  # fmt: skip


def _list_alloc_peak(run: RunResult) -> float | None:
    return None if run.request_peaks is None else run.request_peaks.median_bytes


# Where RSS is too coarse (the allocator keeps what a list freed): the Python memory one
# list request holds at once, from a tracemalloc attribution run (`ablate
# --attribution`). Its samples are the requests of that run, not repeats of runs.
LIST_ALLOC_PEAK = Metric(
    "list_alloc_peak_bytes", "Allocation peak per list request (tracemalloc)", "bytes",
    EffectFloor(relative=0.05, absolute=32 * 1024), _list_alloc_peak,
)  # fmt: skip


def _stale_replies(run: RunResult) -> float | None:
    w = run.work
    if w is None or w.stale_polls is None or not w.polls:
        return None
    return w.stale_polls / w.polls


# What a poll served by a process that does not run the task sees: an older copy. The
# floor: half a percent of the polls, or a tenth of the reference's share.
STALE_REPLIES = Metric(
    "stale_replies_per_poll", "Stale status replies (fewer segments than seen before)",
    "ratio", EffectFloor(relative=0.10, absolute=0.005), _stale_replies,
)  # fmt: skip
PER_REQUEST = {LIST_ALLOC_PEAK.key}
# Claims whose own metric is the per-request peak when attribution runs measured it:
# change 7 promises "20-30 % per list call", and a list call's few hundred KiB vanish in
# the RSS of a process that holds 220 tasks (measured: RSS within 0.3 MiB either way).
# Without attribution runs they keep their first metric.
PRIMARY_WITH_ATTRIBUTION = {"list_cleanup": LIST_ALLOC_PEAK.key}
CLAIM_METRICS: dict[str, Metric] = {
    **METRICS_BY_KEY,
    FINAL_RSS.key: FINAL_RSS,
    LIVE_ENTRIES.key: LIVE_ENTRIES,
    LIST_ALLOC_PEAK.key: LIST_ALLOC_PEAK,
    STALE_REPLIES.key: STALE_REPLIES,
}


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


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.0f} %".replace("+-", "-")


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
    return f"{text}, leaning {row.leaning}" if row.leaning else text


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


def plan_document(p: AblationPlan) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "memdiag-ablation-plan",
        "base": p.base,
        "direction": p.direction,
        "repeat": p.repeat,
        "steps": [_step_document(s) for s in p.steps],
        "skipped": [{"key": k, "why": why} for k, why in p.skipped],
    }


def _step_document(s: Step) -> dict[str, Any]:
    doc = asdict(s)
    if not s.reference:
        del doc["reference"]  # judged against the base (as every plan before it was)
    return doc


def plan_from_document(doc: Any) -> AblationPlan:
    """The plan `plan_document` wrote; a document that is not one is a SchemaError."""
    if not isinstance(doc, dict) or doc.get("kind") != "memdiag-ablation-plan":
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise SchemaError(f"{PLAN_FILE}: not an ablation plan (kind {kind!r})")
    try:
        return _plan(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"{PLAN_FILE}: a malformed plan ({exc!r})") from None


def _plan(doc: dict[str, Any]) -> AblationPlan:
    steps = tuple(
        Step(
            s["key"],
            s["claim"],
            s["load"],
            tuple(s["overrides"]),
            s["spec"],
            bool(s["with_change"]),
            str(s.get("reference", "")),
        )
        for s in doc["steps"]
    )
    skipped = tuple((s["key"], s["why"]) for s in doc.get("skipped", []))
    return AblationPlan(doc["base"], doc["direction"], steps, int(doc["repeat"]), skipped)


def _by_repeat(conf: ConfigResult, m: Metric) -> dict[int, float]:
    if m.key in PER_REQUEST:
        # Every request of the configuration's attribution run(s) is a sample.
        peaks = [
            p for r in conf.attribution if r.request_peaks for p in r.request_peaks.peaks_bytes
        ]
        return {i: float(p) for i, p in enumerate(peaks)}
    return {r.repeat: v for r in conf.runs if (v := m.extract(r)) is not None}


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
    return m.title.replace("Status poll", "Task-list request") if load == "dashboard" else m.title


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
        saving_low=min(paired) if len(paired) > 1 else None,
        saving_high=max(paired) if len(paired) > 1 else None,
        effect=v.effect, p_value=v.p_value,
        verdict=_claim_verdict(claim, v.outcome, saved, saving, best) if primary else v.outcome,
        leaning=leaning,
        detail=v.label, claimed_low=low, claimed_high=high, note=claim.note,
    )  # fmt: skip


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
            found = [_row(claim, step, comparison, p.base, k, alpha, own) for k in keys]
            # A per-request context metric without its attribution runs has no row at all.
            rows += [
                r
                for r in found
                if r.primary or r.metric not in PER_REQUEST or r.n_with or r.n_without
            ]
    return Ablation(name, p, tuple(comparisons), tuple(rows))


def claims_document(a: Ablation) -> list[dict[str, Any]]:
    return [asdict(r) for r in a.claims]
