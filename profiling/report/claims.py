"""Render an Ablation: summary.json, report.md and report.html with the claims table (pure).

The claims table comes first (one row per claim on its own metric; the context metrics
in a second table), then each scenario's headline table as `memdiag compare` shows it.
The HTML adds a bar per claim: the measured saving with its range over the repeats,
against the claimed saving (a shaded band, or a tick where the report gives one figure).
"""

from __future__ import annotations

from typing import Any

from loadtests.names import DASHBOARD
from profiling.artefacts import dumps
from profiling.fixreport.ablation import SCENARIOS
from profiling.numbers import bytes_text
from profiling.report.claims_summary import (
    claims_conditions,
    claims_links,
    effect_cell,
    statistics_note,
    summary_lines,
)
from profiling.report.render import _ENV, headline
from profiling.report.summary_json import summary_document
from profiling.results.folder import SCHEMA_VERSION, run_record
from profiling.verdict.claims import (
    CLAIM_METRICS,
    Ablation,
    ClaimRow,
    claims_document,
    plan_document,
    range_text,
    verdict_text,
)
from profiling.verdict.compare import Comparison


def _expected(row: ClaimRow) -> str:
    """The claim as the report words it; a figure in MB also in MiB, the reports' unit."""
    m = CLAIM_METRICS[row.metric]
    if "MB" not in row.expected or m.unit != "bytes" or row.without_median is None:
        return row.expected
    if row.claimed_low is None:
        return row.expected
    low = row.claimed_low * row.without_median
    high = None if row.claimed_high is None else row.claimed_high * row.without_median
    mib = bytes_text(low) if high is None else f"{bytes_text(low)} - {bytes_text(high)}"
    return f"{row.expected} ({mib})"


def _n(row: ClaimRow) -> str:
    n = f"{row.n_without}/{row.n_with}"
    return f"{n} ({row.left_out})" if row.left_out else n


def _table_row(row: ClaimRow) -> dict[str, Any]:
    return {
        "change": row.change,
        "key": row.key,
        "claim": row.claim,
        "expected": _expected(row),
        "switch": row.switch,
        "scenario": row.scenario,
        "metric": row.metric_title,
        "effect": effect_cell(row),
        "range": range_text(row),
        "n": _n(row),
        "p": "" if row.p_value is None else f"{row.p_value:.2g}",
        "verdict": row.verdict,
        "detail": row.detail,
        # "inconclusive (n=2, need 4)" says it all; others name the statistics beside.
        "verdict_text": verdict_text(row),
        "note": row.note,
    }


def render_ablation_json(a: Ablation) -> str:
    first = next((c.runs[0] for _, c in a.comparisons if c.runs), None)
    return dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": "memdiag-ablation",
            "name": a.name,
            "valid": a.valid,
            "invalid_reasons": list(a.invalid_reasons),
            "comparable": a.comparable,
            "plan": plan_document(a.plan),
            "claims": claims_document(a),
            "environment": None if first is None else run_record(first)["environment"],
            "scenarios": {
                SCENARIOS[load].scenario: summary_document(c) for load, c in a.comparisons
            },
        }
    )


def _headline(load: str, c: Comparison) -> dict[str, Any]:
    table = headline(c)
    if load == DASHBOARD.short:
        # The dashboard's busiest GET, and what its latency rows measure, is the task list.
        for row in table["rows"]:
            row["title"] = row["title"].replace("Status poll", "Task-list request")
    return table


def _context(a: Ablation) -> dict[str, Any]:
    return {
        "a": a,
        "summary": summary_lines(a),
        "statistics": statistics_note(a),
        "conditions": claims_conditions(a),
        "links": claims_links(a),
        "claims": [_table_row(r) for r in a.claims if r.primary],
        "context_rows": [_table_row(r) for r in a.claims if not r.primary],
        "scenarios": [
            {
                "name": SCENARIOS[load].scenario,
                "note": SCENARIOS[load].note,
                "c": c,
                "headline": _headline(load, c),
            }
            for load, c in a.comparisons
        ],
        "skipped": list(a.plan.skipped),
    }


def render_ablation_markdown(a: Ablation) -> str:
    return _ENV.get_template("ablation.md").render(**_context(a))


def render_ablation_html(a: Ablation) -> str:
    from profiling.report import claims_plot, plots  # matplotlib only for the HTML

    return _ENV.get_template("ablation.html").render(
        **_context(a),
        plot=claims_plot.claims(a),
        scenario_plots={SCENARIOS[load].scenario: plots.all_plots(c) for load, c in a.comparisons},
    )
