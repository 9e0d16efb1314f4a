"""`memdiag compare --server/--rev`, `bisect` and `check` on real servers and a real git
repository: a small aiohttp app whose history holds a 1.5x regression, a commit that does
not start and a comment-only commit. Short phases: the builds differ by 20 MiB of peak
RSS on purpose, far above run-to-run noise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from profiling.benchmarks.regression_repo import SERVER_CMD, make_repo
from profiling.cli import main

APP = Path(__file__).parents[1] / "integration" / "load_apps" / "ballast_app.py"
SHORT = ["--warmup", "1", "--duration", "3", "--cooldown", "0", "--rate", "5", "--no-html"]
REVS = ["--server-cmd", SERVER_CMD, "--setup", "true", "--poll", "GET /work"]

pytestmark = pytest.mark.slow


def serve(name: str, mib: int) -> str:
    return f"{name}={sys.executable} {APP} --port {{port}} --mib {mib}"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMDIAG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_compare_two_commands_calls_the_bigger_one_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    argv = ["compare", "--server", serve("small", 20), "--server", serve("big", 30)]
    code = main([*argv, "--poll", "GET /work", "--tolerance", "5%", "-o", str(out), *SHORT])
    assert code == 1, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["configurations"]) == {"small", "big"}
    report = (out / "report.md").read_text()
    assert "Three-way verdict, big against small" in report and "REGRESSION" in report
    # The ordinary tools work on it unchanged.
    assert main(["report", str(out), "--no-html"]) == 0


def test_a_a_same_revision_twice_is_never_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", 6)
    out = tmp_path / "aa"
    argv = ["compare", "--repo", str(repo.path), "--rev", "main", "--rev", "main", *REVS]
    code = main([*argv, "--tolerance", "5%", "-o", str(out), *SHORT])
    printed = capsys.readouterr().out
    assert code in (0, 4), printed
    assert "REGRESSION" not in printed
    assert "rev main" in (out / "report.md").read_text()  # the commit and subject named


@pytest.mark.timeout(900)  # a bisect of 6 commits and three checks: about 22 short runs
def test_bisect_names_the_culprit_skips_the_broken_commit_and_reuses_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The fewest commits that hold every case: 0 good, 2 broken (the first pick, so the
    # search must skip it), 3 its fix (a good step), 4 the culprit (a bad step), 5 the
    # comment-only commit (the bad end, so its samples are measured by the ends' step).
    repo = make_repo(tmp_path / "repo", 6)
    broken = repo.commits.index(repo.broken)
    base = ["--repo", str(repo.path), *REVS, *SHORT]
    out = tmp_path / "bisect"
    code = main(["bisect", "--good", repo.good, "--bad", repo.bad, *base, "-o", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed
    assert f"first bad commit: {repo.culprit[:10]}" in printed.out
    report = (out / "bisect.md").read_text()
    assert f"`{repo.broken[:10]}` | change {broken}: half-done refactor" in report
    assert "skipped: " in report and "exited with 1" in report
    assert "## Final comparison" in report
    # check, with git bisect's exit codes; the culprit's samples come from the cache.
    check = ["check", *base]
    assert (
        main([*check, "--good", repo.good, "--rev", repo.culprit, "-o", str(tmp_path / "c1")]) == 1
    )
    assert "0 new runs" in capsys.readouterr().out
    # The comment-only commit is the same as the culprit before it.
    assert (
        main([*check, "--good", repo.culprit, "--rev", repo.comment, "-o", str(tmp_path / "c2")])
        == 0
    )
    assert (
        main([*check, "--good", repo.good, "--rev", repo.broken, "-o", str(tmp_path / "c3")]) == 125
    )


SLOW_LOCUSTFILE = """
from locust import HttpUser, constant_throughput, task


class Slow(HttpUser):
    wait_time = constant_throughput(1)

    @task
    def work(self):
        self.client.get("/work")
"""


def test_a_locustfile_that_misses_its_rate_makes_the_run_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locustfile = tmp_path / "slow_locustfile.py"
    locustfile.write_text(SLOW_LOCUSTFILE)
    out = tmp_path / "slow"
    argv = ["compare", "--server", serve("app", 5), "--locustfile", str(locustfile)]
    argv += ["--users", "1", "-o", str(out), *SHORT]  # --rate 5, it sends about 1/s
    assert main(argv) == 3
    run = json.loads(next((out / "runs").glob("*/run.json")).read_text())
    assert any("not the 5/s of --rate" in r for r in run["invalid_reasons"]), run
