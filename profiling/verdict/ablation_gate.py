"""The CI gate on an ablation: its scenarios' runs, baseline regressions, named claims (pure).

An ablation measures one base design and its one-switch variants under several
scenarios; the thresholds of `[tool.memdiag.gate]` are written for a comparison of
designs under one scenario (`memdiag compare`), and a storm's limits (no DB read per
poll, say) would misjudge the dashboard, whose "status" request is the task list. So an
ablation is gated on what stays meaningful for every scenario:

- validity and equal work, scenario by scenario, with the rules of `profiling.verdict.gate`
  (exit 3 when a run is invalid or a configuration's work is not comparable);
- `--baseline` (another ablation, main's say, or an ordinary summary): the peak RSS of
  each configuration against the same configuration under the same scenario in the
  baseline, by `max_peak_rss_increase_pct` (and its per-configuration overrides);
- `--claims KEY,...`: each named claim's verdict must be "confirmed"; "inconclusive"
  (too few repeats, as `ablate --quick` gives) is exit 4, any other verdict fails.

A work difference that is the switch itself does not make a scenario not comparable:
runs recorded before the dashboard counted its list requests as its polls counted
each listed task as one, so there `active_list_limit=100` serves five times the
"polls" of the limit of 20 by design (`EXPECTED_WORK`); the output names it instead.
The absolute limits and improvements of the thresholds are not applied to an
ablation (`ignored_limits` says which were skipped, so the output can say so).
Check names start with the scenario: "polling_storm: memory-first peak RSS vs
baseline <= +15 %", "claim poll_source confirmed".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from loadtests.names import module_spelling
from profiling.errors import ExitCode, UsageError
from profiling.fixreport.ablation import SCENARIOS
from profiling.verdict.claims import Ablation, ClaimRow, effect_text, verdict_text
from profiling.verdict.comparable import POLLS_PER_S, NotComparable
from profiling.verdict.compare import Comparison
from profiling.verdict.gate import Check, Limits, baseline_checks, checks_exit_code


def scenarios(a: Ablation) -> dict[str, Comparison]:
    """The ablation's comparisons by the scenario's name (polling_storm, dashboard, ...)."""
    return {module_spelling(SCENARIOS[load].scenario): c for load, c in a.comparisons}


def claim_keys(a: Ablation) -> list[str]:
    return list(dict.fromkeys(r.key for r in a.claims if r.primary))


def parse_claims(text: str | None, a: Ablation) -> list[str]:
    """`--claims poll_source,all` -> the keys, each one a claim of this ablation."""
    keys = [k.strip() for k in (text or "").split(",") if k.strip()]
    known = claim_keys(a)
    for key in keys:
        if key not in known:
            raise UsageError(
                f"--claims: no claim {key!r} in this ablation; it has {', '.join(known)}"
            )
    return list(dict.fromkeys(keys))


def _claim_check(row: ClaimRow) -> Check:
    name = f"claim {row.key} confirmed"
    actual = row.verdict
    why = f"{row.metric_title}: {effect_text(row)}; {verdict_text(row)}"
    if row.verdict == "confirmed":
        return Check(name, "passed", actual, why)
    if row.verdict == "inconclusive":
        return Check(name, "inconclusive", actual, why)
    return Check(name, "failed", actual, why + f" (claimed {row.expected})")


def check_claims(a: Ablation, keys: Sequence[str]) -> list[Check]:
    rows = {r.key: r for r in a.claims if r.primary}
    return [_claim_check(rows[k]) for k in keys]


def check_baseline(a: Ablation, limits: Limits, baseline: dict[str, Comparison]) -> list[Check]:
    """Peak RSS per configuration against the baseline's, scenario by scenario; a scenario
    the baseline lacks gets one skipped check that says so."""
    checks: list[Check] = []
    for scenario, comparison in scenarios(a).items():
        before = baseline.get(module_spelling(scenario))
        if before is None:
            checks.append(
                Check(
                    f"{scenario}: peak RSS vs baseline",
                    "skipped",
                    "n/a",
                    "the baseline did not measure this scenario",
                )
            )
            continue
        checks += [
            replace(c, name=f"{scenario}: {c.name}")
            for c in baseline_checks(comparison, limits, before)
        ]
    return checks


def ignored_limits(limits: Limits | None) -> list[str]:
    """The thresholds an ablation's gate leaves out (absolute limits, improvements)."""
    if limits is None:
        return []
    out = [f"{conf} {key}" for conf, keys in limits.absolute.items() for key in keys]
    out += [f"{i.better} {i.metric} vs {i.than}" for i in limits.improvements]
    return out


# Switches whose variant does other work by design, and the work figure that shows it.
EXPECTED_WORK = {"active_list_limit": (POLLS_PER_S,)}


def _expected(a: Ablation, n: NotComparable) -> bool:
    for step in a.plan.steps:
        if n.configuration == step.spec and n.metric in EXPECTED_WORK.get(step.key, ()):
            return True
    return False


def unequal_work(a: Ablation) -> list[str]:
    """Every way a scenario's work is not comparable, except the switches' own."""
    return [
        f"{scenario}: {n.describe()}"
        for scenario, c in scenarios(a).items()
        for n in c.not_comparable
        if not _expected(a, n)
    ]


def expected_work(a: Ablation) -> list[str]:
    """The work differences that are the switch measured (reported, not judged)."""
    return [
        f"{scenario}: {n.describe()}"
        for scenario, c in scenarios(a).items()
        for n in c.not_comparable
        if _expected(a, n)
    ]


def exit_code(checks: Sequence[Check], a: Ablation) -> ExitCode:
    """3 if any scenario has an invalid run or unequal work, else as `profiling.verdict.gate`."""
    if not a.valid or unequal_work(a):
        return ExitCode.INVALID
    return checks_exit_code(checks)
