"""Rendering: golden Markdown and JSON from the committed fixture runs; a self-contained HTML."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from profiling.report.render import render_html, render_json, render_markdown, verdict_paragraph
from profiling.results.folder import load_runs
from profiling.verdict.compare import compare

Golden = Callable[[str, str], None]


@pytest.mark.parametrize("folder", ["three-modes", "single", "aa", "sweep", "invalid", "unequal"])
def test_golden_markdown_and_json(folder: str, fixture_runs: Path, golden: Golden) -> None:
    c = compare(load_runs(fixture_runs / folder), name=folder)
    golden(f"{folder}.report.md", render_markdown(c))
    golden(f"{folder}.summary.json", render_json(c))


def test_summary_json_guarantees_the_script_fields(fixture_runs: Path) -> None:
    document = json.loads(render_json(compare(load_runs(fixture_runs / "three-modes"))))
    assert document["schema_version"] == 1 and document["valid"] is True
    for conf in ("db-polling", "memory-first", "lean"):
        figures = document["configurations"][conf]
        for key in (
            "peak_rss_bytes",
            "rss_growth_mib_per_min",
            "status_p99_ms",
            "db_reads_per_poll",
            "error_rate",
        ):
            assert isinstance(figures[key], int | float), (conf, key)
    verdict = document["verdicts"][0]
    assert {"metric", "baseline", "candidate", "ratio", "effect", "p_value", "label"} <= set(
        verdict
    )
    assert all("valid" in run and "invalid_reasons" in run for run in document["runs"])


def test_markdown_table_per_metric_against_the_first(fixture_runs: Path) -> None:
    md = render_markdown(compare(load_runs(fixture_runs / "three-modes")))
    section = md.split("### Peak RSS (server, kernel high-water mark)")[1].split("###")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| configuration | median | runs | range | vs db-polling |")
    assert rows[2].startswith("| db-polling |") and "baseline" in rows[2]
    interval = r"97 % CI [\d.]+ - [\d.]+x less"
    assert re.search(
        rf"\| lean \| .* \| \d+\.\dx less \| {interval} \| significant \| 0\.029 \|", rows[4]
    )
    assert "[report.html](report.html)" in md
    assert "| git commit | 0123456789abcdef0123456789abcdef01234567 |" in md


def test_paragraph_wording(fixture_runs: Path) -> None:
    aa = verdict_paragraph(compare(load_runs(fixture_runs / "aa")))
    assert "No significant change between lean, lean#2 in any metric." in aa
    single = verdict_paragraph(compare(load_runs(fixture_runs / "single")))
    assert "x less?" in single and "not significant yet" not in single
    assert "None of these changes can be called significant yet" in single
    assert "--repeat 4" in single
    three = verdict_paragraph(compare(load_runs(fixture_runs / "three-modes")))
    assert "significant yet" not in three and "lean: peak RSS" in three
    invalid = verdict_paragraph(compare(load_runs(fixture_runs / "invalid")))
    assert "INVALID" in invalid


def test_html_is_self_contained(fixture_runs: Path) -> None:
    html = render_html(compare(load_runs(fixture_runs / "sweep"), name="<sweep & co>"))
    assert (
        html.count('src="data:image/png;base64,') >= 6
    )  # timelines, peaks, latency, DB, lag, sweep
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no CDN, nothing fetched
    assert "<script" not in html
    assert "&lt;sweep &amp; co&gt;" in html  # names are escaped
    assert "Sweep over target_rate_per_s" in html
