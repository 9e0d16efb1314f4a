"""The verdict a reviewer reads in a minute (issue 23, problems 1 and 6): at most five lines
first, limits before figures, an invalid configuration's figures never headlined, what did
not change named, and at most ten lines for a pull request."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from profiling.report.render import render_markdown, verdict_paragraph
from profiling.report.verdict_lines import pr_comment_lines, verdict_lines
from profiling.results.folder import RunResult, load_runs
from profiling.verdict.compare import compare

FOLDERS = ["three-modes", "single", "aa", "sweep", "invalid", "unequal"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_report_md_starts_with_at_most_five_verdict_lines(folder: str, fixture_runs: Path) -> None:
    md = render_markdown(compare(load_runs(fixture_runs / folder), name=folder))
    lines = md.splitlines()
    assert lines[0].startswith("# memdiag report")
    start = lines.index("## Verdict")
    assert all(not line.strip() for line in lines[1:start])  # nothing before the verdict
    bullets = []
    for line in lines[start + 2 :]:
        if not line.startswith("- "):
            break
        bullets.append(line)
    assert 1 <= len(bullets) <= 5


def _invalid(runs: list[RunResult], name: str) -> list[RunResult]:
    return [
        replace(r, valid=False, invalid_reasons=("no requests in the steady phase",))
        if r.configuration == name and r.profile == "none"
        else r
        for r in runs
    ]


def test_an_invalid_baseline_is_never_headlined(fixture_runs: Path) -> None:
    runs = _invalid(load_runs(fixture_runs / "single"), "db-polling")
    c = compare(runs)
    db_peak = c.baseline.medians["peak_rss_bytes"]
    assert db_peak is not None
    quoted = f"{db_peak / 1048576:.0f}"  # 421 (MiB), however it is rounded
    lines = verdict_lines(c)
    assert lines[0].startswith("INVALID: db-polling")
    assert not any(quoted in line for line in lines[1:])
    paragraph = verdict_paragraph(c)
    # INVALID comes before any figure, and the invalid baseline's figure is not quoted.
    assert paragraph.split(". ")[1].startswith("INVALID")
    assert "Nothing is compared against db-polling" in paragraph
    assert quoted not in paragraph and "->" not in paragraph
    assert any(line.startswith("No verdict against db-polling") for line in lines)
    md = render_markdown(c)
    head = md.split("## Headline")[1].split("##")[0]
    assert re.search(
        r"\| Peak RSS \(server, kernel high-water mark\) \| [^|]* \(invalid\) \|", head
    )


def test_an_invalid_candidate_is_marked_not_judged(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "invalid"))
    lines = verdict_lines(c)
    assert lines[0].startswith("INVALID: lean")
    assert not any(line.startswith("lean:") for line in lines)
    md = render_markdown(c)
    table = md.split("### Peak RSS (server, kernel high-water mark)")[1].split("###")[0]
    lean = next(line for line in table.splitlines() if line.startswith("| lean (invalid) |"))
    assert "not judged: invalid runs" in lean


def test_the_answer_has_an_interval_and_unchanged_metrics_are_named(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "three-modes"))
    lines = verdict_lines(c)
    lean = next(line for line in lines if line.startswith("lean:"))
    assert re.search(
        r"5\.\dx less \(97 % CI [\d.]+ - [\d.]+x less; p = 0\.029, 4 vs 4 runs\)", lean
    )
    assert lines[-1].startswith("Valid: 4 interleaved run(s)")
    # A candidate whose growth stayed put: the example's memory-first.
    flat = [
        replace(
            r,
            memory={
                **r.memory,
                "server": replace(r.memory["server"], growth_mib_per_min=3.0 + r.repeat * 0.01),
            },
        )
        if r.configuration in ("db-polling", "memory-first") and r.profile == "none"
        else r
        for r in load_runs(fixture_runs / "three-modes")
    ]
    assert "Unchanged: memory-first's RSS growth" in " ".join(verdict_lines(compare(flat)))


def test_pr_comment_lists_significant_changes_and_counts_the_rest(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "three-modes"))
    lines = pr_comment_lines(c)
    assert len(lines) <= 10
    assert re.fullmatch(
        r"\d+ not significant \(unchanged, or too few runs to decide\)\.", lines[-1]
    )
    assert any(line.startswith("lean: peak RSS") for line in lines)
    single = pr_comment_lines(compare(load_runs(fixture_runs / "single")))
    assert single == ["10 not significant (unchanged, or too few runs to decide)."]


def test_gate_summary_is_ten_lines_and_a_thresholds_block(
    fixture_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from profiling.cli import main

    config = tmp_path / "gate.toml"
    config.write_text('[configurations."lean"]\npeak_rss_mib = 60\n[configurations."db-polling"]\n'
                      "peak_rss_mib = 600\n")  # fmt: skip
    step = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    assert main(["gate", str(fixture_runs / "three-modes"), "--config", str(config)]) == 1
    text = step.read_text()
    assert text.startswith("## memdiag gate: FAILED")
    verdict = [line for line in text.split("```")[0].splitlines() if line.startswith("- ")]
    assert 1 <= len(verdict) <= 10
    block = text.split("```")[1]
    assert block.lstrip().startswith("thresholds")
    assert re.search(r"✗ lean peak_rss_mib <= 60\.+ 72\.\d MiB", block)
    assert re.search(r"✓ db-polling peak_rss_mib <= 600\.+ 41\d\.\d MiB", block)
    assert "1 of 2 passed" in block
