"""The claims report's opening: a summary a reviewer reads in a minute, and the notes on
what its statistics can say (pure).

The claims report used to open on a 16-row table whose headline claim was row 4, with no
summary, run conditions or files. `summary_lines` gives at most five lines: the fix
report's headline claim as measured, the tally of verdicts, the costs the rows name,
what limits the figures (invalid runs, unequal work), and the statistics' floor.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from profiling.fixreport.ablation import SCENARIOS
from profiling.numbers import change_pct
from profiling.report.numbers import metric_delta, metric_text
from profiling.report.render import conditions, links
from profiling.verdict.claims import CLAIM_METRICS, VERDICTS, Ablation, ClaimRow
from profiling.verdict.effect import holm, p_floor_note

HEADLINE_KEY = "all"
# Run-condition rows that differ per scenario: each scenario gets its own line instead.
_PER_SCENARIO = frozenset({"scenario", "target rate", "steady / warm-up / cool-down", "users",
                           "configurations", "DB calibration"})  # fmt: skip


def effect_cell(row: ClaimRow) -> str:
    """'-14 % (345 MiB -> 297 MiB)' in the report's number style."""
    m = CLAIM_METRICS[row.metric]
    if row.with_median is None or row.without_median is None:
        return "n/a"
    values = f"{metric_text(m, row.without_median)} -> {metric_text(m, row.with_median)}"
    if row.saving is None:
        return f"{metric_delta(m, row.effect or 0.0)} ({values})"
    return f"{change_pct(row.without_median, row.with_median)} ({values})"


def _headline(a: Ablation) -> str | None:
    row = next((r for r in a.claims if r.primary and r.key == HEADLINE_KEY), None)
    if row is None:
        return None
    metric = row.metric_title.split(" (")[0]
    return (
        f"Headline claim ({row.expected} less memory): {row.verdict}; {metric} "
        f"{effect_cell(row)} in {row.scenario}, {row.n_without} vs {row.n_with} runs."
    )


def _tally(rows: list[ClaimRow]) -> str:
    counts = Counter(r.verdict for r in rows)
    parts = [f"{counts[v]} {v}" for v in VERDICTS if counts[v]]
    return f"{len(rows)} claims: " + ", ".join(parts) + "."


def _costs(rows: list[ClaimRow]) -> str | None:
    named = [r for r in rows if r.verdict == "a cost" or r.costs]
    if not named:
        return None
    parts = []
    for r in named:
        what = r.detail.split("; its own metric")[0] if r.verdict == "a cost" else ""
        costs = "; ".join(filter(None, [what, *r.costs]))
        parts.append(f"{r.key} ({costs})")
    return "Costs: " + "; ".join(parts) + "."


def _limits(a: Ablation) -> str:
    problems = []
    if not a.valid:
        problems.append(
            f"INVALID: {len(a.invalid_reasons)} run problem(s) (listed below); their repeats "
            "are left out of the claims' medians"
        )
    unequal = [f"{SCENARIOS[load].scenario}" for load, c in a.comparisons if not c.comparable]
    if unequal:
        problems.append(f"work not comparable in {', '.join(unequal)} (see each scenario)")
    if problems:
        return "; ".join(problems) + "."
    runs = sum(len(c.runs) for _, c in a.comparisons)
    return f"Valid: all {runs} runs served their rate; equal work in every scenario."


def summary_lines(a: Ablation) -> list[str]:
    """At most five lines: limits when there are any, headline, tally, costs, validity."""
    primary = [r for r in a.claims if r.primary]
    lines = []
    limits = _limits(a)
    if not limits.startswith("Valid"):
        lines.append(limits)
    if (head := _headline(a)) is not None:
        lines.append(head)
    lines.append(_tally(primary))
    if (costs := _costs(primary)) is not None:
        lines.append(costs)
    if limits.startswith("Valid"):
        lines.append(limits)
    return lines[:5]


def statistics_note(a: Ablation) -> str:
    """The p floor stated once, and what the number of tests does to it."""
    primary = [r for r in a.claims if r.primary and r.p_value is not None]
    if not primary:
        return ""
    n = min(min(r.n_with, r.n_without) for r in primary)
    tested = [r.p_value for r in a.claims if r.p_value is not None]
    significant = [p for p in tested if p < 0.05]
    kept = sum(holm(tested))
    return (
        f"{p_floor_note(n)} These tables hold {len(tested)} tests; {len(significant)} have "
        f"p < 0.05, and {kept} of them stay significant under Holm's correction for all "
        f"{len(tested)} together: read a single p = 0.029 as 'the runs did not overlap', "
        "and the effect and its range as the finding."
    )


def claims_conditions(a: Ablation) -> list[tuple[str, str]]:
    """Run conditions: the first scenario's environment rows, and each scenario's phases."""
    if not a.comparisons:
        return []
    rows = [(k, v) for k, v in conditions(a.comparisons[0][1]) if k not in _PER_SCENARIO]
    for _, c in a.comparisons:
        s = c.scenario
        rows.append(
            (
                f"scenario {s.name}",
                f"{s.target_rate_per_s:g} /s, {s.duration_s:g} s steady after "
                f"{s.warmup_s:g} s warm-up, {len(c.configurations)} configuration(s)",
            )
        )
    return rows


def claims_links(a: Ablation) -> list[dict[str, Any]]:
    return [link for _, c in a.comparisons for link in links(c.runs)]
