"""memdiag report / diff / gate through cli.main: files written, exit codes, messages."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

from profiling.cli import build_parser, main


@pytest.fixture
def three(fixture_runs: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "three-modes"
    shutil.copytree(fixture_runs / "three-modes", folder)
    return folder


def test_report_writes_three_files(three: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(three)]) == 0
    out = capsys.readouterr().out
    for name in ("summary.json", "report.md", "report.html"):
        assert f"Wrote {three / name}" in out
        assert (three / name).stat().st_size > 0
    assert json.loads((three / "summary.json").read_text())["name"] == "three-modes"
    # Re-rendering from the summary alone (run folders gone) still works.
    shutil.rmtree(three / "runs")
    assert (
        main(["report", str(three / "summary.json"), "--no-html", "-o", str(three / "again")]) == 0
    )
    assert (three / "again" / "report.md").is_file()
    assert not (three / "again" / "report.html").exists()


def test_report_links_reach_the_runs_from_another_output(three: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "report"
    assert main(["report", str(three), "-o", str(out), "--no-html"]) == 0
    md = (out / "report.md").read_text()
    link = md.split("[rss.csv](")[1].split(")")[0]
    assert (out / link).is_file()


def test_report_missing_folder_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"memdiag report: No such run folder: {tmp_path / 'nope'}"


def test_diff_prints_a_table_and_refuses_other_scenarios(
    fixture_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c = (fixture_runs / n for n in ("branch-a", "branch-b", "branch-c"))
    assert main(["diff", str(a), str(b), "-o", str(tmp_path / "d"), "--no-html"]) == 0
    out = capsys.readouterr().out
    assert "branch-a" in out and "branch-b" in out and "Peak RSS (server, kernel" in out
    document = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert list(document["configurations"]) == ["branch-a", "branch-b"]
    assert main(["diff", str(a), str(c)]) == 2
    err = capsys.readouterr().err
    assert "different scenarios (params.segments: 5000 vs 3000)" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["diff", str(a), str(c), "--force"]) == 0


def gate_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


def test_gate_exit_codes(
    fixture_runs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    three = str(fixture_runs / "three-modes")
    meets = gate_file(
        tmp_path, '[configurations."lean"]\npeak_rss_mib = 500\nstatus_p99_ms = 100\n'
    )
    assert main(["gate", three, "--config", str(meets)]) == 0
    assert "passed" in capsys.readouterr().out
    violated = gate_file(tmp_path, '[configurations."db-polling"]\npeak_rss_mib = 100\n')
    assert main(["gate", three, "--config", str(violated)]) == 1
    captured = capsys.readouterr()
    assert "db-polling peak_rss_mib <= 100  failed" in captured.out
    assert "1 of 1 check(s) failed" in captured.err
    toml = '[[improvements]]\nbetter = "lean"\nthan = "db-polling"\nmetric = "peak_rss_bytes"\n'
    significant = gate_file(tmp_path, toml + "ratio = 0.8\nsignificant = true\n")
    assert main(["gate", str(fixture_runs / "single"), "--config", str(significant)]) == 4
    assert main(["gate", three, "--config", str(significant)]) == 0
    assert main(["gate", str(fixture_runs / "invalid"), "--config", str(meets)]) == 3
    capsys.readouterr()
    assert main(["gate", str(tmp_path / "missing.json"), "--config", str(meets)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("memdiag gate: No such run folder or summary file:") and "\n" not in err
    assert main(["gate", three, "--config", str(tmp_path / "absent.toml")]) == 2
    empty = gate_file(tmp_path, "# nothing yet\n")
    capsys.readouterr()
    assert main(["gate", three, "--config", str(empty)]) == 2
    assert "no thresholds in" in capsys.readouterr().err


def test_gate_baseline_and_step_summary(
    fixture_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = tmp_path / "step-summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    config = gate_file(tmp_path, "max_peak_rss_increase_pct = 10\n")
    a, b = str(fixture_runs / "branch-a"), str(fixture_runs / "branch-b")
    assert main(["gate", b, "--config", str(config), "--baseline", a]) == 1
    text = step.read_text()
    assert text.startswith("earlier step\n## memdiag gate: FAILED")
    assert re.search(r"✗ my-app peak RSS vs baseline <= \+10 %\.+ \+24\.4 %  \(failed", text)


@pytest.mark.parametrize("command", ["report", "diff", "gate"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert "usage: memdiag " + command in capsys.readouterr().out


def test_every_option_of_every_command_says_what_it_does() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    silent = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in commands.items()
        for action in sub._actions
        if not action.help and not isinstance(action, argparse._HelpAction)
    ]
    assert len(commands) >= 10
    assert silent == []
