"""`memdiag diff` of two ablations: scenario by scenario, and the claims side by side (pure).

Two ablations (main's and a branch's, say) are diffed only when they answer the same
questions: the same base design (from memory-first every row undoes a change, from
db-polling it applies one, so their configurations and savings are not the same
thing). Each scenario both measured is compared on its own, A's runs against B's
(`profiling.verdict.compare.compare`, the configurations labelled `A:...` and `B:...`), and
the table pairs each configuration with itself: A's median, B's, and the verdict of
B against A. A scenario only one side measured is listed, not compared. The claims
are paired by key: each side's verdict and measured saving on the claim's own metric.

`refusal(a, b)` says why two ablations cannot be diffed (or None); `paired_rows` and
`claim_rows` build the tables the command prints and writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.names import DASHBOARD
from profiling.fixreport.ablation import SCENARIOS
from profiling.numbers import fixed_text
from profiling.verdict.claims import Ablation, ClaimRow, effect_text, range_text
from profiling.verdict.compare import METRICS_BY_KEY, Comparison

# The figures a scenario's diff shows per configuration: the claims' own metrics.
DIFF_METRICS = ("peak_rss_bytes", "rss_growth_mib_per_min", "server_cpu_percent",
                "status_p99_ms", "db_reply_bytes_per_s", "db_reply_bytes_per_poll")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClaimPair:
    key: str
    change: str
    metric: str
    before: ClaimRow | None  # A's row (None: A did not measure this claim)
    after: ClaimRow | None

    @property
    def changed(self) -> bool:
        before = self.before.verdict if self.before is not None else None
        after = self.after.verdict if self.after is not None else None
        return before is not None and after is not None and before != after


def refusal(a: Ablation, b: Ablation) -> str | None:
    if a.plan.base != b.plan.base:
        return (
            f"A is an ablation from {a.plan.base} ({a.plan.direction}), B from {b.plan.base} "
            f"({b.plan.direction}): their configurations and savings measure different "
            "things; diff two ablations from the same --base"
        )
    if not set(scenario_names(a)) & set(scenario_names(b)):
        return (
            f"A measured {', '.join(scenario_names(a)) or 'no scenario'} and B "
            f"{', '.join(scenario_names(b)) or 'no scenario'}: no scenario in common"
        )
    return None


def scenario_names(a: Ablation) -> list[str]:
    return [SCENARIOS[load].scenario for load, _ in a.comparisons]


def claim_pairs(a: Ablation, b: Ablation) -> list[ClaimPair]:
    """Every primary claim of either side, in A's order then B's extra ones."""
    rows_a = {r.key: r for r in a.claims if r.primary}
    rows_b = {r.key: r for r in b.claims if r.primary}
    out = []
    for key in dict.fromkeys([*rows_a, *rows_b]):
        ra, rb = rows_a.get(key), rows_b.get(key)
        row = ra or rb
        assert row is not None
        out.append(ClaimPair(key, row.change, row.metric_title, ra, rb))
    return out


def _effect(row: ClaimRow | None) -> str:
    if row is None:
        return "not in this ablation"
    spread = range_text(row)
    return effect_text(row) + (f" [{spread}]" if spread else "")


def claim_rows(pairs: Sequence[ClaimPair]) -> list[list[str]]:
    """The claims side by side, a header row first (text and Markdown tables share it)."""
    rows = [["change", "claim", "metric", "verdict A", "saving A", "verdict B", "saving B"]]
    for p in pairs:
        rows.append(
            [
                p.change,
                p.key,
                p.metric,
                p.before.verdict if p.before else "-",
                _effect(p.before),
                (p.after.verdict if p.after else "-") + (" (changed)" if p.changed else ""),
                _effect(p.after),
            ]
        )
    return rows


def paired_rows(
    c: Comparison, configurations: Sequence[str], side_a: str, side_b: str, scenario: str = ""
) -> list[list[str]]:
    """Per configuration and metric: A's median, B's, and B's verdict against A's."""
    rows = [["configuration", "metric", side_a, side_b, "verdict (B vs A)"]]
    for conf in configurations:
        ca, cb = c.config(f"{side_a}:{conf}"), c.config(f"{side_b}:{conf}")
        if ca is None or cb is None:
            continue
        for key in DIFF_METRICS:
            m = METRICS_BY_KEY[key]
            va, vb = ca.medians.get(key), cb.medians.get(key)
            if va is None and vb is None:
                continue
            v = c.pair_verdict(key, ca.name, cb.name)
            title = m.title
            # The dashboard's busiest GET, the "status" request, is the list.
            if scenario == DASHBOARD.module_name:
                title = title.replace("Status poll", "Task-list request")
            rows.append([conf, title, fixed_text(m.unit, va), fixed_text(m.unit, vb), v.label])
    return rows


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows[1:]]
    return "\n".join(lines)
