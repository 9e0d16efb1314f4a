"""The claims table: golden Markdown and JSON from the committed ablation fixture, the
verdict wording, and `memdiag report` on an ablation folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from profiling.cli import main
from profiling.report.claims import (
    render_ablation_html,
    render_ablation_json,
    render_ablation_markdown,
)
from profiling.results.folder import load_runs
from profiling.verdict.claims import (
    PLAN_FILE,
    VERDICTS,
    Ablation,
    evaluate,
    plan_from_document,
    verdict_text,
)

Golden = Callable[[str, str], None]


@pytest.fixture
def ablation(fixture_runs: Path) -> Ablation:
    folder = fixture_runs / "ablation"
    plan = plan_from_document(json.loads((folder / PLAN_FILE).read_text(encoding="utf-8")))
    return evaluate(plan, load_runs(folder), name="ablation")


def test_golden_claims_markdown_and_json(ablation: Ablation, golden: Golden) -> None:
    golden("ablation.report.md", render_ablation_markdown(ablation))
    golden("ablation.summary.json", render_ablation_json(ablation))


def test_each_claim_gets_its_verdict(ablation: Ablation) -> None:
    verdicts = {r.key: r.verdict for r in ablation.claims if r.primary}
    # The fixture's figures: 4.0 MiB per poll against "5-50 MB"; a copy that changes
    # nothing; 2.3x less against "80-90 %"; 5.3x less decoded against "80 %"; a gc that
    # costs memory.
    assert verdicts == {
        "poll_source": "smaller than claimed",
        "copy_on_merge": "no measurable effect",
        "all": "smaller than claimed",
        "active_list_limit": "confirmed",
        "list_cleanup": "the opposite",
    }
    assert all(r.verdict in VERDICTS for r in ablation.claims if r.primary)


def test_a_claim_row_carries_its_range_and_sizes(ablation: Ablation) -> None:
    row = next(r for r in ablation.claims if r.key == "all" and r.primary)
    assert (row.without_change, row.with_change) == ("db-polling", "memory-first")
    assert (row.n_without, row.n_with) == (4, 4)
    assert row.saving is not None and row.saving_low is not None and row.saving_high is not None
    assert row.saving_low <= row.saving <= row.saving_high
    assert (row.claimed_low, row.claimed_high) == (0.80, 0.90)
    assert row.p_value is not None and row.p_value < 0.05


def test_the_summary_carries_claims_plan_and_scenarios(ablation: Ablation) -> None:
    doc = json.loads(render_ablation_json(ablation))
    assert doc["kind"] == "memdiag-ablation" and doc["schema_version"] == 1
    assert set(doc["scenarios"]) == {"polling_storm", "dashboard"}
    assert doc["plan"]["base"] == "memory-first"
    first = doc["claims"][0]
    for key in ("claim", "expected", "switch", "scenario", "metric", "saving", "saving_low",
                "saving_high", "n_with", "n_without", "p_value", "verdict"):  # fmt: skip
        assert key in first


def test_the_html_draws_each_claim_against_its_promise(ablation: Ablation) -> None:
    html = render_ablation_html(ablation)
    assert "data:image/png;base64," in html and "measured saving against the claimed" in html
    # Each scenario's own plots (RSS over time, peaks, latency ...) follow its table.
    assert html.count("data:image/png;base64,") > 2
    assert html.count('verdict-cell the-opposite"') == 1
    assert "http://" not in html and "https://" not in html


def test_memdiag_report_rerenders_an_ablation_folder(fixture_runs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ablation"
    shutil.copytree(fixture_runs / "ablation", folder)
    assert main(["report", str(folder), "--no-html"]) == 0
    assert "## Claims" in (folder / "report.md").read_text(encoding="utf-8")
    assert json.loads((folder / "summary.json").read_text())["kind"] == "memdiag-ablation"
    (folder / PLAN_FILE).write_text('{"kind": "memdiag-summary"}', encoding="utf-8")
    assert main(["report", str(folder), "--no-html"]) == 3


def test_too_few_repeats_are_inconclusive_and_say_which_way_they_lean(
    fixture_runs: Path,
) -> None:
    folder = fixture_runs / "ablation"
    plan = plan_from_document(json.loads((folder / PLAN_FILE).read_text(encoding="utf-8")))
    two = [r for r in load_runs(folder) if r.repeat <= 2]
    rows = {r.key: r for r in evaluate(plan, two).claims if r.primary}
    assert rows["all"].verdict == "inconclusive"
    assert rows["all"].leaning == "smaller than claimed"
    assert rows["list_cleanup"].leaning == "the opposite"
    assert (
        rows["copy_on_merge"].verdict == "no measurable effect"
        and not rows["copy_on_merge"].leaning
    )
    assert verdict_text(rows["all"]) == "inconclusive (n=2, need 4), leaning smaller than claimed"


def test_a_scenario_that_never_ran_leaves_its_claims_not_measured(fixture_runs: Path) -> None:
    folder = fixture_runs / "ablation"
    plan = plan_from_document(json.loads((folder / PLAN_FILE).read_text(encoding="utf-8")))
    storm_only = [r for r in load_runs(folder) if r.scenario.name == "polling_storm"]
    a = evaluate(plan, storm_only)
    rows = {r.key: r for r in a.claims if r.primary}
    assert rows["active_list_limit"].verdict == "not measured"
    assert rows["list_cleanup"].n_with == 0 and rows["all"].verdict != "not measured"
    assert [load for load, _ in a.comparisons] == ["storm"]
    assert "| 4 | The active-task query" in render_ablation_markdown(a)
