"""`memdiag report --slim`: the raw probe output goes, the report's figures stay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from profiling.cli import main

FIXTURE = Path(__file__).parents[1] / "fixtures" / "runs" / "three-modes"


def _without_artifacts(summary: dict[str, Any]) -> dict[str, Any]:
    for run in summary["runs"]:
        run.pop("artifacts", None)
    return summary


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The fixture with raw output beside one run, as a measured run leaves it."""
    target = tmp_path / "three-modes"
    shutil.copytree(FIXTURE, target)
    run = target / "runs" / "01-db-polling-r1"
    (run / "locust.log").write_text("a Locust log\n")
    (run / "metrics-steady-end.prom").write_text("memdiag_status_polls_total 10\n")
    (run / "agent").mkdir()
    (run / "agent" / "agent-1.jsonl").write_text("{}\n")
    record = json.loads((run / "run.json").read_text())
    record["artifacts"] = {"locust": "locust.log", "metrics_steady_end": "metrics-steady-end.prom"}
    (run / "run.json").write_text(json.dumps(record))
    return target


def test_slim_keeps_what_the_report_reads(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(folder), "--no-html", "--name", "x"]) == 0
    before = json.loads((folder / "summary.json").read_text())
    report_before = (folder / "report.md").read_text()
    assert "locust.log" in report_before

    assert main(["report", str(folder), "--no-html", "--name", "x", "--slim"]) == 0
    assert "3 file(s) removed" in capsys.readouterr().err
    run = folder / "runs" / "01-db-polling-r1"
    assert sorted(p.name for p in run.iterdir()) == ["rss.csv", "run.json"]
    assert json.loads((run / "run.json").read_text())["artifacts"] == {}
    after = json.loads((folder / "summary.json").read_text())
    assert _without_artifacts(after) == _without_artifacts(before)
    assert "locust.log" not in (folder / "report.md").read_text()  # no dangling link


def test_slim_refuses_another_output(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(folder), "--slim", "-o", str(folder.parent / "out")]) == 2
    assert "--slim works in place" in capsys.readouterr().err
    assert (folder / "runs" / "01-db-polling-r1" / "locust.log").is_file()  # nothing lost
