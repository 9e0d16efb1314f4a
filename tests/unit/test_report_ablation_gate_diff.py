"""`memdiag gate` and `memdiag diff` on ablations, from the committed ablation fixture.

The fixture (tests/fixtures/runs/ablation, 4 repeats, two scenarios) gives one claim of
each verdict: poll_source smaller than claimed, copy_on_merge no measurable effect,
active_list_limit confirmed, list_cleanup the opposite. A second ablation is made from
it in tmp_path (a regression in one configuration's peak RSS, or a scenario left out),
never by editing the fixture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from profiling.cli import main
from profiling.report import ablation_diff
from profiling.verdict import ablation_gate
from profiling.verdict.gate import parse_limits
from profiling.verdict.read_ablation import is_ablation, load_ablation

GATE_TOML = "max_peak_rss_increase_pct = 10\n"


@pytest.fixture
def ablation_dir(fixture_runs: Path) -> Path:
    return fixture_runs / "ablation"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _scale_peak(folder: Path, configuration: str, scenario: str, factor: float) -> None:
    """Multiply the server's kernel peak of every run of one configuration and scenario."""
    for path in folder.glob("runs/*/run.json"):
        doc = json.loads(path.read_text())
        if doc["configuration"] == configuration and doc["scenario"]["name"] == scenario:
            server = doc["memory"]["server"]
            server["kernel_peak_bytes"] = int(server["kernel_peak_bytes"] * factor)
            path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _drop_scenario(folder: Path, scenario: str) -> None:
    for path in folder.glob("runs/*/run.json"):
        if json.loads(path.read_text())["scenario"]["name"] == scenario:
            shutil.rmtree(path.parent)


def test_an_ablation_loads_the_same_from_folder_and_summary(
    ablation_dir: Path, tmp_path: Path
) -> None:
    assert main(["report", str(ablation_dir), "-o", str(tmp_path / "r"), "--no-html"]) == 0
    summary = tmp_path / "r" / "summary.json"
    assert is_ablation(ablation_dir) and is_ablation(summary)
    assert not is_ablation(ablation_dir.parent / "three-modes")
    from_folder, from_summary = load_ablation(ablation_dir), load_ablation(summary)
    assert from_folder is not None and from_summary is not None
    verdicts = [(r.key, r.metric, r.verdict) for r in from_folder.claims]
    assert verdicts == [(r.key, r.metric, r.verdict) for r in from_summary.claims]
    assert load_ablation(ablation_dir.parent / "three-modes") is None


def test_required_claims_pass_fail_and_name_the_unknown(ablation_dir: Path) -> None:
    a = load_ablation(ablation_dir)
    assert a is not None
    keys = ablation_gate.parse_claims("active_list_limit, poll_source", a)
    checks = ablation_gate.check_claims(a, keys)
    assert [(c.name, c.status) for c in checks] == [
        ("claim active_list_limit confirmed", "passed"),
        ("claim poll_source confirmed", "failed"),
    ]
    assert "smaller than claimed" in checks[1].actual and "5-50 MB" in checks[1].why
    assert ablation_gate.exit_code(checks, a) == 1
    assert ablation_gate.exit_code(checks[:1], a) == 0
    with pytest.raises(Exception, match="no claim 'gc_after_conversion' in this ablation"):
        ablation_gate.parse_claims("gc_after_conversion", a)


def test_baseline_checks_each_scenario_and_configuration(
    ablation_dir: Path, tmp_path: Path
) -> None:
    worse = _copy(ablation_dir, tmp_path / "worse")
    _scale_peak(worse, "memory-first:active_list_limit=100", "dashboard", 1.25)
    a, base = load_ablation(worse), load_ablation(ablation_dir)
    assert a is not None and base is not None
    limits = parse_limits({"max_peak_rss_increase_pct": 10}, "t")
    checks = ablation_gate.check_baseline(a, limits, ablation_gate.scenarios(base))
    failed = [c for c in checks if c.status == "failed"]
    assert [c.name for c in failed] == [
        "dashboard: memory-first:active_list_limit=100 peak RSS vs baseline <= +10 %"
    ]
    assert failed[0].actual == "+25.0 %"
    # The same configuration under the storm (the base) is untouched and passes.
    assert any(c.name.startswith("polling_storm: memory-first peak") and c.status == "passed"
               for c in checks)  # fmt: skip
    # One check per configuration of each scenario.
    assert len(checks) == sum(len(c.configurations) for _, c in a.comparisons)


def test_gate_command_on_an_ablation(
    ablation_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    md = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(md))
    assert main(["gate", str(ablation_dir), "--claims", "active_list_limit"]) == 0
    assert "claim active_list_limit confirmed  passed" in capsys.readouterr().out
    assert main(["gate", str(ablation_dir), "--claims", "list_cleanup"]) == 1
    out, err = capsys.readouterr()
    assert "the opposite" in out and err.strip() == "memdiag gate: 1 of 1 check(s) failed"
    assert "## memdiag gate: FAILED" in md.read_text()
    # Nothing to check, or an unknown claim: one-line usage errors (exit 2).
    assert main(["gate", str(ablation_dir)]) == 2
    err = capsys.readouterr().err
    assert "--claims" in err and "active_list_limit" in err and len(err.splitlines()) == 1
    assert main(["gate", str(ablation_dir), "--claims", "ghost"]) == 2
    err = capsys.readouterr().err
    assert "no claim 'ghost'" in err and len(err.splitlines()) == 1
    # A regression against a baseline ablation: exit 1, scenario named.
    worse = _copy(ablation_dir, tmp_path / "worse")
    _scale_peak(worse, "memory-first", "polling_storm", 1.5)
    config = tmp_path / "gate.toml"
    config.write_text(GATE_TOML)
    args = ["gate", str(worse), "--baseline", str(ablation_dir), "--config", str(config)]
    assert main(args) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("polling_storm: memory-first peak"))
    assert " failed  +50.0 %" in line
    # Without a baseline percentage the baseline cannot be checked.
    config.write_text('[configurations."lean"]\npeak_rss_mib = 100\n')
    assert main(args) == 2
    assert "max_peak_rss_increase_pct" in capsys.readouterr().err


def test_gate_refuses_mixed_kinds(
    ablation_dir: Path, fixture_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    three = fixture_runs / "three-modes"
    assert main(["gate", str(three), "--claims", "poll_source"]) == 2
    assert "--claims needs an ablation" in capsys.readouterr().err
    assert main(["gate", str(three), "--baseline", str(ablation_dir)]) == 2
    err = capsys.readouterr().err
    assert "is an ablation" in err and len(err.splitlines()) == 1


def test_an_invalid_scenario_run_exits_3(ablation_dir: Path, tmp_path: Path) -> None:
    broken = _copy(ablation_dir, tmp_path / "broken")
    path = next(broken.glob("runs/21-*/run.json"))
    doc = json.loads(path.read_text())
    doc.update(valid=False, invalid_reasons=["missed its rate by 12 %"])
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    assert main(["gate", str(broken), "--claims", "active_list_limit"]) == 3


def test_diff_pairs_scenarios_and_claims(ablation_dir: Path, tmp_path: Path) -> None:
    other = _copy(ablation_dir, tmp_path / "branch")
    _scale_peak(other, "memory-first:list_cleanup=false", "dashboard", 1.5)
    a, b = load_ablation(ablation_dir), load_ablation(other)
    assert a is not None and b is not None
    assert ablation_diff.refusal(a, b) is None
    pairs = {p.key: p for p in ablation_diff.claim_pairs(a, b)}
    # Without the cleanup the dashboard now peaks 50 % higher: the claim flips.
    assert pairs["list_cleanup"].before is not None and pairs["list_cleanup"].after is not None
    assert pairs["list_cleanup"].before.verdict == "the opposite"
    assert pairs["list_cleanup"].after.verdict == "confirmed"
    assert pairs["list_cleanup"].changed and not pairs["poll_source"].changed
    rows = ablation_diff.claim_rows(list(pairs.values()))
    assert rows[0][3:] == ["verdict A", "saving A", "verdict B", "saving B"]
    assert any(r[1] == "list_cleanup" and r[5] == "confirmed (changed)" for r in rows)


def test_diff_command_on_two_ablations(
    ablation_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = _copy(ablation_dir, tmp_path / "branch")
    _scale_peak(other, "memory-first", "polling_storm", 2.0)
    _drop_scenario(other, "dashboard")
    out_dir = tmp_path / "d"
    assert main(["diff", str(ablation_dir), str(other), "-o", str(out_dir), "--no-html"]) == 0
    out = capsys.readouterr().out
    assert "== polling_storm: ablation (A) vs branch (B)" in out
    assert "== dashboard" not in out and "dashboard only in A" in out
    lines = out.splitlines()
    storm = next(x for x in lines if x.startswith("memory-first ") and "Peak RSS (server, k" in x)
    assert "2.0x more" in storm
    # Scenario by scenario: the storm's configurations only, each paired with itself.
    document = json.loads((out_dir / "polling_storm" / "summary.json").read_text())
    mine = load_ablation(ablation_dir)
    assert mine is not None
    storm = next(c for load, c in mine.comparisons if load == "storm")
    assert len(document["configurations"]) == 2 * len(storm.configurations)
    assert all(n.startswith(("ablation:", "branch:")) for n in document["configurations"])
    claims = (out_dir / "claims.md").read_text()
    # B's plan still lists the dashboard's claims: no run of it finished, not measured.
    row = next(x for x in claims.splitlines() if x.startswith("| 4 | active_list_limit |"))
    assert "| confirmed |" in row and "| not measured (changed) |" in row


def test_diff_refuses_an_ablation_against_a_summary_and_other_bases(
    ablation_dir: Path, fixture_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(ablation_dir), str(fixture_runs / "three-modes")]) == 2
    err = capsys.readouterr().err
    assert "is an ablation and" in err and len(err.splitlines()) == 1
    # The real tool's dashboard ran other parameters than the synthetic fixture's.
    assert main(["diff", str(ablation_dir), str(fixture_runs / "ablation-attribution")]) == 2
    err = capsys.readouterr().err
    assert "measured dashboard under different parameters" in err and "--force" in err
    other = _copy(ablation_dir, tmp_path / "other")
    plan = json.loads((other / "ablation.json").read_text())
    plan.update(base="db-polling", direction="add-one-in")
    (other / "ablation.json").write_text(json.dumps(plan))
    assert main(["diff", str(ablation_dir), str(other)]) == 2
    err = capsys.readouterr().err
    assert "from the same --base" in err and len(err.splitlines()) == 1
