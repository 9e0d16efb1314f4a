"""Every `memdiag ...` command the README and the docs pages show runs as written, or its
line says why it cannot (`# long: DURATION`, `# needs: WHAT`; see tests/doc_commands.py).

A command that reads run folders runs in a scratch folder holding copies of committed
folders under the names the docs use, with the repository's pyproject.toml beside them
(the gate reads its thresholds from the nearest one, as in a clone). Where a page shows
only the shape of a command, the copy is the committed folder of that shape:
`compare --repeat 4 -o run` made reports/example; `main-run` and `pr-run` are two
branches of a user's app (tests/fixtures/runs/branch-a, branch-b); `abl` and `main-abl`
are the ablation fixture (tests/fixtures/runs/ablation), whose claims include one
smaller than claimed, so the gate's `--claims` fails on it with exit 1 as documented.
`memdiag db` runs in the foreground until Ctrl-C, as the pages say, and is stopped that way.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pymongo
import pytest
from doc_commands import ROOT, DocCommand, all_commands

from profiling.run.subprocs import first_line, terminate

EXAMPLE = ROOT / "reports" / "example"
FIXTURES = ROOT / "tests" / "fixtures" / "runs"


@dataclass(frozen=True)
class Case:
    """How a docs command runs here: the folders it reads (name as on the page -> the
    committed folder copied there), its exit code, and text its output must hold."""

    folders: dict[str, Path] = field(default_factory=dict)
    exit_code: int = 0
    says: tuple[str, ...] = ()
    fresh_cache: bool = False  # XDG_CACHE_HOME in the scratch folder, as on a new machine


CASES: dict[str, Case] = {
    "memdiag ablate --dry-run": Case(says=("runs, about",)),
    # espeak-ng and ffmpeg (installed by .ci/setup) build 2 minutes of speech in seconds.
    "memdiag audio --minutes 2": Case(fresh_cache=True),
    "memdiag diff main-run pr-run": Case(
        {"main-run": FIXTURES / "branch-a", "pr-run": FIXTURES / "branch-b"}, says=("Peak RSS",)
    ),
    "memdiag report run": Case(
        {"run": EXAMPLE}, says=("Wrote run/report.md", "Wrote run/report.html")
    ),
    "memdiag gate run/summary.json": Case({"run": EXAMPLE}, says=("check(s) passed",)),
    "memdiag gate run/summary.json --baseline main/summary.json": Case(
        {"run": EXAMPLE, "main": EXAMPLE}, says=("peak RSS vs baseline", "check(s) passed")
    ),
    # findings.md: exit 1 when a named claim is not confirmed.
    "memdiag gate abl --claims poll_source,all --baseline main-abl": Case(
        {"abl": FIXTURES / "ablation", "main-abl": FIXTURES / "ablation"},
        exit_code=1,
        says=("claim poll_source confirmed", "smaller than claimed"),
    ),
    "memdiag diff main-abl abl -o abl-diff": Case(
        {"abl": FIXTURES / "ablation", "main-abl": FIXTURES / "ablation"},
        says=("Wrote abl-diff/claims.md", "Wrote abl-diff/polling_storm/report.md"),
    ),
}
# Commands that serve in the foreground until Ctrl-C: the start of their first stdout line.
FOREGROUND = {"memdiag db": "mongodb://127.0.0.1:"}

COMMANDS = all_commands()


def where(command: str) -> str:
    return ", ".join(sorted({c.page for c in COMMANDS if c.command == command}))


def test_every_command_runs_here_or_is_marked() -> None:
    runnable = CASES.keys() | FOREGROUND.keys()
    unmarked = {c.command for c in COMMANDS if not c.marked}
    assert sorted(unmarked - runnable) == [], (
        "a docs command that neither runs here nor says `# long: ...` or `# needs: ...`"
    )
    shown = {c.command for c in COMMANDS}
    assert sorted(runnable - shown) == [], "run here but no longer in the docs"


def test_no_command_runs_here_that_needs_the_readers_values() -> None:
    needs: list[DocCommand] = [c for c in COMMANDS if c.needs is not None]
    assert [c for c in needs if c.command in CASES or c.command in FOREGROUND] == []


def memdiag(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "profiling", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(CASES))
def test_docs_command_runs_as_written(command: str, tmp_path: Path) -> None:
    case = CASES[command]
    for name, source in case.folders.items():
        shutil.copytree(source, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if case.fresh_cache:
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")

    done = memdiag(shlex.split(command)[1:], tmp_path, env)

    output = done.stdout + done.stderr
    shown = f"`{command}` ({where(command)}) exited {done.returncode}:\n{output}"
    assert done.returncode == case.exit_code, shown
    for text in case.says:
        assert text in output, shown
    if command.startswith("memdiag audio"):
        folder = Path(done.stdout.strip())  # its only stdout line, so "$(memdiag audio)" works
        assert folder.is_relative_to(tmp_path / "cache"), shown
        assert (folder / "speech.wav").stat().st_size > 0, shown
        assert (folder / "speech.mp3").stat().st_size > 0, shown


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(FOREGROUND))
def test_docs_foreground_command_serves_until_ctrl_c(command: str, tmp_path: Path) -> None:
    errors = tmp_path / "stderr.txt"
    with (
        errors.open("w") as err,
        subprocess.Popen(
            [sys.executable, "-m", "profiling", *shlex.split(command)[1:]],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        ) as proc,
    ):
        try:
            line = first_line(proc, timeout_s=180).strip()
            shown = f"`{command}` ({where(command)}) printed {line!r}:\n{errors.read_text()}"
            assert line.startswith(FOREGROUND[command]), shown
            with pymongo.MongoClient(line, serverSelectionTimeoutMS=30_000) as client:
                assert client.admin.command("ping")["ok"] == 1.0
            proc.send_signal(signal.SIGINT)  # Ctrl-C, which the docs say stops it
            assert proc.wait(60) == 0, shown
        finally:
            terminate(proc, 10)
