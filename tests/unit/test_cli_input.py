"""memdiag checks every argument before anything starts: exit 2 and a one-line message,
and no run folder (so no DB, server or load generator) was created.

Switches are checked by the reference server itself (`python -m reference_server
--check`, which connects to nothing), so the CLI never imports the server's table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from profiling.cli import main

RUNNING = ["--duration", "1", "--warmup", "0"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--configs", "lean:nope=1"], "configuration 'lean:nope=1': unknown switch"),
        (["compare", "--configs", "lean:status_view=nah"], "status_view takes one of full"),
        (["compare", "--configs", "lean,nope"], "unknown mode 'nope'"),
        (["measure", "--mode", "lean", "--set", "nope=1"], "unknown switch 'nope'"),
        (["measure", "--mode", "lean", "--server-arg=--bogus"], "unrecognized arguments"),
        (["sweep", "--param", "rate", "--values", "1,2", "--configs", "lean:x=1"], "'x'"),
        (["sweep", "--param", "nope", "--values", "1,2"], "--param nope: unknown scenario"),
        (["measure", "--mode", "lean", "-O", "nope=1"], "-O nope=1: unknown scenario option"),
        (["measure", "--mode", "lean", "-O", "segments=abc"], "takes an integer, not 'abc'"),
        (["measure", "--mode", "lean", "--workers", "0"], "--workers 0: need at least 1"),
        (["measure", "--mode", "lean", "--server-processes", "0"], "--server-processes 0"),
        (["measure", "--mode", "lean", "--load-processes", "0"], "--load-processes 0"),
        (["measure", "--mode", "lean", "--tracemalloc-frames", "0"], "--tracemalloc-frames 0"),
        (["measure", "--mode", "lean", "--mongo-uri", "http://x"], "is not a mongodb:// URI"),
        (["measure", "--mode", "lean", "--rate", "0"], "--rate and --duration must be > 0"),
        (["measure", "--mode", "lean", "--scenario", "nope"], "is not a scenario"),
        (["measure", "--url", "http://127.0.0.1:9/", "--pid", "999999999"], "no such process"),
        (["compare", "--configs", "lean", "--repeat", "0"], "--repeat 0: need at least 1"),
        (["compare", "--configs", "lean", "--allocator", "tcmalloc"], "--allocator"),
        (["compare", "--configs", "db-polling@driver=motr"], "use driver=motor or driver=py"),
        (["compare", "--configs", "memory-first@processes=0"], "use processes=N with N >= 1"),
        (["sweep", "--param", "rate", "--values", "1,2", "--configs", "lean@x"], "allocator 'x'"),
    ],
)
def test_bad_run_arguments_start_nothing(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main([*argv, *RUNNING, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert message in err, err
    # Nothing started: a run writes its folder (runs/, processes, logs) before the DB.
    assert not out.exists()


def test_output_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["measure", "--mode", "lean", *RUNNING, "-o", str(target)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"memdiag measure: -o {target} is a file; name a folder for the run"
    )


def test_gate_names_the_missing_summary_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml above: no thresholds either
    missing = Path("/nonexistent.json")
    assert main(["gate", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"memdiag gate: No such run folder or summary file: {missing} (SUMMARY)"
    (tmp_path / "s.json").write_text("{}")
    assert main(["gate", "s.json", "--baseline", "nope.json"]) == 2
    assert "nope.json (--baseline)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diff", "/nope-a", "/nope-b"], "No such run folder or summary file: /nope-a"),
        (["report", "/nope"], "No such run folder: /nope"),
        (["db", "--port", "70000"], "--port 70000 is not a TCP port"),
    ],
)
def test_other_commands_name_the_bad_value(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_serve_checks_its_own_arguments() -> None:
    """`memdiag serve` execs the server; its --check says what is wrong and starts nothing."""
    proc = subprocess.run(
        [sys.executable, "-m", "reference_server", "--check", "--set", "nope=1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("reference_server: unknown switch 'nope'")
    ok = subprocess.run(
        [sys.executable, "-m", "reference_server", "--check", "--mode", "lean"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"segment_storage": "chunks"' in ok.stdout
