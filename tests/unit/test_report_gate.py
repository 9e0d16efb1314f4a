"""Gate thresholds: TOML parsing with clear errors, checks and exit codes (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiling.errors import UsageError
from profiling.results.folder import load_runs
from profiling.verdict.compare import compare
from profiling.verdict.gate import check, exit_code, load_limits, parse_limits


def three(fixture_runs: Path):  # type: ignore[no-untyped-def]
    return compare(load_runs(fixture_runs / "three-modes"))


def test_absolute_limits_pass_and_fail(fixture_runs: Path) -> None:
    c = three(fixture_runs)
    lean = {"peak_rss_mib": 100, "status_p99_ms": 50, "error_rate": 0.01, "db_reads_per_poll": 0.1}
    lean["rss_growth_mib_per_min"] = 1
    table = {"configurations": {"lean": lean, "db-polling": {"peak_rss_mib": 300}}}
    limits = parse_limits(table, "test")
    checks = check(c, limits)
    status = {ch.name: ch.status for ch in checks}
    assert status["lean peak_rss_mib <= 100"] == "passed"
    assert status["db-polling peak_rss_mib <= 300"] == "failed"
    assert sum(s == "passed" for s in status.values()) == 5
    failed = next(ch for ch in checks if ch.status == "failed")
    assert failed.actual.endswith("MiB") and "over by" in failed.why
    assert exit_code(checks, c) == 1


def test_unknown_configuration_fails_the_check(fixture_runs: Path) -> None:
    checks = check(
        three(fixture_runs), parse_limits({"configurations": {"ghost": {"peak_rss_mib": 1}}}, "t")
    )
    assert checks[0].status == "failed" and "not in this summary" in checks[0].why


def test_improvement_ratio_and_significance(fixture_runs: Path) -> None:
    c = three(fixture_runs)
    ok = {
        "better": "lean",
        "than": "db-polling",
        "metric": "peak_rss_bytes",
        "ratio": 0.5,
        "significant": True,
    }
    too_strict = {**ok, "ratio": 0.05}
    checks = check(c, parse_limits({"improvements": [ok, too_strict]}, "t"))
    assert [ch.status for ch in checks] == ["passed", "failed"]
    # With three repeats a side the U test cannot reach 0.05: inconclusive -> exit 4.
    aa = compare(load_runs(fixture_runs / "aa"))
    same = {
        "better": "lean#2",
        "than": "lean",
        "metric": "peak_rss_bytes",
        "ratio": 1.1,
        "significant": True,
    }
    checks = check(aa, parse_limits({"improvements": [same]}, "t"))
    assert checks[0].status in ("inconclusive", "failed")
    single = compare(load_runs(fixture_runs / "single"))
    checks = check(single, parse_limits({"improvements": [ok]}, "t"))
    assert checks[0].status == "inconclusive"
    assert checks[0].why == "inconclusive (n=1, need 4)"
    assert exit_code(checks, single) == 4
    # Without `significant`, the ratio of medians alone decides.
    checks = check(single, parse_limits({"improvements": [{**ok, "significant": False}]}, "t"))
    assert checks[0].status == "passed" and exit_code(checks, single) == 0


def test_baseline_regression(fixture_runs: Path) -> None:
    a = compare(load_runs(fixture_runs / "branch-a"))
    b = compare(load_runs(fixture_runs / "branch-b"))
    limits = parse_limits({"max_peak_rss_increase_pct": 10}, "t")
    checks = check(b, limits, baseline=a)
    assert len(checks) == 1 and checks[0].status == "failed"
    assert checks[0].actual.startswith("+")
    assert check(a, limits, baseline=a)[0].status == "passed"
    per_config = {"my-app": {"max_peak_rss_increase_pct": 50}}
    loose = parse_limits({"max_peak_rss_increase_pct": 10, "configurations": per_config}, "t")
    assert check(b, loose, baseline=a)[0].status == "passed"


def test_invalid_run_exits_3(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "invalid"))
    checks = check(c, parse_limits({"configurations": {"lean": {"peak_rss_mib": 1000}}}, "t"))
    assert checks[0].status == "passed"
    assert exit_code(checks, c) == 3


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"confgurations": {}}, "unknown gate key 'confgurations'"),
        ({"configurations": {"lean": {"peak_rss": 3}}}, "unknown limit 'peak_rss'"),
        (
            {"configurations": {"lean": {"peak_rss_mib": "big"}}},
            "peak_rss_mib = 'big' is not a number",
        ),
        (
            {"improvements": [{"better": "a", "than": "b", "metric": "x", "ratio": 1}]},
            "unknown metric 'x'",
        ),
        ({"improvements": [{"better": "a", "than": "b"}]}, "missing metric, ratio"),
        ({"improvements": {"better": "a"}}, "[[improvements]]"),
    ],
)
def test_bad_thresholds_are_usage_errors(table: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(UsageError) as info:
        parse_limits(table, "gate.toml")
    assert message in str(info.value) and "gate.toml" in str(info.value)
    assert info.value.exit_code == 2


def test_load_limits_from_file_and_pyproject(tmp_path: Path) -> None:
    config = tmp_path / "gate.toml"
    config.write_text('[configurations."db-polling"]\npeak_rss_mib = 600\n')
    assert load_limits(config).absolute == {"db-polling": {"peak_rss_mib": 600.0}}
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        "[tool.memdiag.gate]\nmax_peak_rss_increase_pct = 5\n"
        '[[tool.memdiag.gate.improvements]]\nbetter = "lean"\nthan = "db-polling"\n'
        'metric = "peak_rss_bytes"\nratio = 0.5\n'
    )
    limits = load_limits(search_from=project / "sub")
    assert limits.max_peak_rss_increase_pct == 5.0
    assert limits.improvements[0].better == "lean"
    with pytest.raises(UsageError, match="No such gate config file"):
        load_limits(tmp_path / "absent.toml")
    (tmp_path / "bad.toml").write_text("this is = = not toml")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_limits(tmp_path / "bad.toml")
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(UsageError, match="No gate thresholds"):
        load_limits(search_from=project)
