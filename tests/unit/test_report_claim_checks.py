"""Claims that read as what they measured (issue 23, problems 4, 5 and 9): a change that
raised errors reads as a cost, hidden costs are named in the row, the effect floor is
stated, repeats that disagree are inconclusive, a leak needs a long enough phase, invalid
repeats stay out of the medians, and the claims report opens with a summary."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from profiling.report.claims import render_ablation_markdown
from profiling.results.folder import RunResult, load_runs
from profiling.verdict.claim_checks import MIN_GROWTH_PHASE_S, phase_too_short, too_wide
from profiling.verdict.claims import (
    PLAN_FILE,
    Ablation,
    ClaimRow,
    evaluate,
    plan_from_document,
    verdict_text,
)
from profiling.verdict.compare import METRICS_BY_KEY

REPO = Path(__file__).resolve().parents[2]


def _evaluate(folder: Path, runs: list[RunResult]) -> Ablation:
    plan = plan_from_document(json.loads((folder / PLAN_FILE).read_text(encoding="utf-8")))
    return evaluate(plan, runs, name="ablation")


def _row(a: Ablation, key: str) -> ClaimRow:
    return next(r for r in a.claims if r.primary and r.key == key)


def _scale(run: RunResult, process_attr: str, factor: float) -> RunResult:
    server = run.memory["server"]
    value = getattr(server, process_attr)
    return replace(
        run, memory={**run.memory, "server": replace(server, **{process_attr: value * factor})}
    )


@pytest.fixture
def folder(fixture_runs: Path) -> Path:
    return fixture_runs / "ablation"


def test_a_change_that_raises_errors_reads_as_a_cost(folder: Path) -> None:
    runs = load_runs(folder)
    # poll_source is judged leave-one-out: memory-first has the change. Give its storm
    # runs failed requests (a third of them); its own metric still shows a saving.
    failing = [
        replace(r, latency={k: replace(e, failures=e.requests // 3) for k, e in r.latency.items()})
        if r.configuration == "memory-first" and r.scenario.name == "polling_storm"
        else r
        for r in runs
    ]
    before = _row(_evaluate(folder, runs), "poll_source")
    assert before.verdict != "a cost"
    row = _row(_evaluate(folder, failing), "poll_source")
    assert row.verdict == "a cost"
    assert verdict_text(row).startswith("a cost (Error rate (all requests)")


def test_hidden_costs_are_named_in_the_row(folder: Path) -> None:
    runs = load_runs(folder)
    # list_cleanup: memory-first (with the cleanup) burns three times the CPU of the
    # variant without it, a metric the claim does not list.
    hot = [
        _scale(r, "cpu_percent", 3.0)
        if r.configuration == "memory-first" and r.scenario.name == "dashboard"
        else r
        for r in runs
    ]
    assert not _row(_evaluate(folder, runs), "list_cleanup").costs
    row = _row(_evaluate(folder, hot), "list_cleanup")
    assert any(c.startswith("Server CPU (% of one core)") for c in row.costs)
    assert "; costs: Server CPU" in verdict_text(row)
    md = render_ablation_markdown(_evaluate(folder, hot))
    summary = md.split("## Summary")[1].split("##")[0]
    assert "- Costs: " in summary and "list_cleanup (Server CPU" in summary


def test_no_measurable_effect_states_the_floor(folder: Path) -> None:
    row = _row(_evaluate(folder, load_runs(folder)), "copy_on_merge")
    assert row.verdict == "no measurable effect"
    assert "below the effect floor of 5 % and 5.0 MiB" in verdict_text(row)
    assert "no significant change" not in verdict_text(row)


def test_repeats_that_disagree_are_inconclusive(folder: Path) -> None:
    runs = load_runs(folder)
    step = "memory-first:checkpoint_interval_s=1,copy_on_merge=true"
    # Repeats 1 and 2 of the variant 40 % above its reference, 3 and 4 40 % below.
    split = [
        _scale(r, "kernel_peak_bytes", 1.4 if r.repeat <= 2 else 0.6)
        if r.configuration == step
        else r
        for r in runs
    ]
    row = _row(_evaluate(folder, split), "copy_on_merge")
    assert row.verdict == "inconclusive"
    assert "the repeats disagree on the direction" in row.detail
    assert too_wide(METRICS_BY_KEY["peak_rss_bytes"], -0.34, 0.39)
    assert not too_wide(METRICS_BY_KEY["peak_rss_bytes"], -0.05, -0.0)


def test_a_leak_claim_needs_a_long_enough_phase() -> None:
    assert phase_too_short("rss_growth_mib_per_min", 10.0)
    assert not phase_too_short("rss_growth_mib_per_min", MIN_GROWTH_PHASE_S)
    assert not phase_too_short("peak_rss_bytes", 10.0)
    claims = REPO / "reports" / "claims"
    if not (claims / PLAN_FILE).is_file():
        pytest.fail(f"the committed claims report is missing: {claims}")
    from profiling.verdict.read_ablation import load_ablation

    a = load_ablation(claims)
    assert a is not None
    row = _row(a, "orphan_sweep_interval_s")  # change 8, "no long-run leak", 10 s phase
    assert row.verdict == "not measurable in this phase"
    assert "10 s steady phase" in row.detail


def test_invalid_repeats_stay_out_of_the_claims_medians(folder: Path) -> None:
    runs = load_runs(folder)
    variant = "memory-first:poll_source=db,checkpoint_interval_s=1"
    broken = [
        replace(r, valid=False, invalid_reasons=("no requests in the steady phase",))
        if r.configuration == variant and r.repeat in (1, 2, 4)
        else r
        for r in runs
    ]
    row = _row(_evaluate(folder, broken), "poll_source")
    assert (row.n_without, row.n_with) == (1, 4)
    assert row.left_out == "without the change: runs 1, 2, 4 invalid, left out"
    md = render_ablation_markdown(_evaluate(folder, broken))
    assert "1/4 (without the change: runs 1, 2, 4 invalid, left out)" in md


def test_the_claims_report_opens_with_a_summary_and_ends_with_conditions(folder: Path) -> None:
    md = render_ablation_markdown(_evaluate(folder, load_runs(folder)))
    lines = md.splitlines()
    assert lines[2] == "## Summary"
    summary = md.split("## Summary")[1].split("##")[0]
    bullets = [line for line in summary.splitlines() if line.startswith("- ")]
    assert 1 <= len(bullets) <= 5
    assert bullets[0].startswith("- Headline claim (80-90 % less memory): smaller than claimed")
    assert "## Run conditions" in md and "## Files" in md
    assert "smallest p the exact U test can give is 0.029" in md
    # The dashboard's latency is its task-list request, in every table.
    dashboard = md.split("## Scenario dashboard")[1].split("## Scenario")[0]
    assert "Status poll latency" not in dashboard and "Task-list request latency p99" in dashboard


def test_a_claim_beyond_the_whole_metric_is_not_drawn_as_met(folder: Path) -> None:
    from profiling.report.claims_plot import claims_figure

    a = _evaluate(folder, load_runs(folder))
    row = _row(a, "poll_source")  # 5-50 MB per poll of a 4 MiB reply: beyond 100 %
    assert row.claimed_low is not None and row.claimed_low > 1
    assert row.verdict == "smaller than claimed" and "eliminated" not in verdict_text(row)
    fig = claims_figure(a)
    assert fig is not None
    ax = fig.axes[0]
    ticks_at_100 = [
        line
        for line in ax.get_lines()
        if list(line.get_xdata()) == [100.0, 100.0]  # type: ignore[arg-type]
    ]
    assert ticks_at_100 == []  # no claimed tick sitting on a bar that saved everything
    assert any(t.get_text().endswith("(more than the whole metric)") for t in ax.texts)


def test_a_claim_in_mb_is_also_shown_in_mib(folder: Path) -> None:
    md = render_ablation_markdown(_evaluate(folder, load_runs(folder)))
    assert "| 5-50 MB per poll (4.77 MiB - 47.7 MiB) |" in md


def test_a_median_outside_the_paired_range_still_draws(folder: Path) -> None:
    """A partial ablation (Ctrl-C) pairs fewer repeats than each side's median uses, so the
    median saving can lie outside the paired range; drawing it as an error bar around the
    median raised and lost the interrupted ablation's report."""
    from profiling.report.claims_plot import claims_figure

    a = _evaluate(folder, load_runs(folder))
    row = _row(a, "copy_on_merge")
    assert row.saving is not None
    outside = replace(row, saving_low=row.saving + 0.2, saving_high=row.saving + 0.3)
    a = replace(a, claims=tuple(outside if r is row else r for r in a.claims))
    fig = claims_figure(a)
    assert fig is not None
    drawn = [list(line.get_xdata()) for line in fig.axes[0].get_lines()]  # type: ignore[arg-type]
    lo, hi = outside.saving_low * 100, outside.saving_high * 100  # type: ignore[operator]
    assert any(xs == [lo, hi] for xs in drawn)  # the range as measured, not around the median
