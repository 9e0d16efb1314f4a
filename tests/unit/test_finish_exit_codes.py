"""The one finish path of the measuring commands, on ablate's reporter: exit codes and lines.

`memdiag ablate` ends through `profiling.commands.finish` like measure, compare and sweep,
so an interrupted ablation says so and exits 130, and one whose scenario did unequal work
exits 3. Run folders are copies of tests/fixtures/runs/ablation (made by `memdiag
ablate`), changed in tmp_path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from profiling.commands.ablate import ablation_reporter
from profiling.commands.finish import finish
from profiling.errors import ExitCode
from profiling.fixreport.ablation import AblationPlan
from profiling.results.folder import load_runs, read_json
from profiling.run.plans import Outcome
from profiling.verdict.claims import PLAN_FILE, plan_from_document

VARIANT = "memory-first:checkpoint_interval_s=1,copy_on_merge=true"


def _copy(fixture_runs: Path, tmp_path: Path) -> tuple[Path, AblationPlan]:
    out = tmp_path / "ablation"
    shutil.copytree(fixture_runs / "ablation", out)
    return out, plan_from_document(read_json(out / PLAN_FILE))


def test_an_ablation_of_equal_work_exits_0(
    fixture_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, plan = _copy(fixture_runs, tmp_path)
    code = finish(Outcome(load_runs(out)), out, ablation_reporter(plan, "a"), html=False)
    assert code == ExitCode.OK
    printed = capsys.readouterr()
    assert "poll_source" in printed.out and f"Report: {out / 'report.md'}" in printed.out
    assert "memdiag:" not in printed.err
    assert (out / "report.md").is_file() and not (out / "report.html").exists()


def test_an_interrupted_ablation_says_so_and_exits_130(
    fixture_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, plan = _copy(fixture_runs, tmp_path)
    # Ctrl-C during the dashboard's schedule: its later runs never started.
    for run in sorted((out / "runs").iterdir())[23:]:
        shutil.rmtree(run)
    runs = load_runs(out)
    code = finish(Outcome(runs, interrupted=True), out, ablation_reporter(plan, "a"), html=False)
    assert code == ExitCode.INTERRUPTED == 130
    err = capsys.readouterr().err
    assert f"memdiag: interrupted; the reports cover the {len(runs)} run(s) that finished" in err
    assert (out / "report.md").is_file()


def test_an_ablation_stopped_before_any_run_exits_130_or_3(
    tmp_path: Path, fixture_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, plan = _copy(fixture_runs, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    reporter = ablation_reporter(plan, "a")
    assert finish(Outcome([], interrupted=True), empty, reporter) == ExitCode.INTERRUPTED
    assert finish(Outcome([]), empty, reporter) == ExitCode.INVALID
    assert capsys.readouterr().err.count(f"no run finished; partial files are in {empty}") == 2


def test_an_ablation_whose_storm_did_unequal_work_exits_3(
    fixture_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, plan = _copy(fixture_runs, tmp_path)
    # The copy_on_merge variant polled tasks twice the size of the others'.
    for path in out.glob("runs/*/run.json"):
        doc = json.loads(path.read_text())
        if doc["configuration"] == VARIANT:
            work = doc["work"]
            for key in ("segments_start", "segments_end", "status_bytes_start", "status_bytes_end"):
                work[key] *= 2
            path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    code = finish(Outcome(load_runs(out)), out, ablation_reporter(plan, "a"), html=False)
    assert code == ExitCode.INVALID == 3
    err = capsys.readouterr().err
    assert "memdiag: work not comparable (see each scenario's report): polling_storm:" in err
    assert VARIANT in err
