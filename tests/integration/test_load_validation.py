"""Servers that break the contract on purpose make the scenarios fail with the right names.

Each case runs a scenario against `load_apps/contract_app.py` with one fault and checks
the failure names in the result (and that a correct server of the same kind gives none,
so the checks are not simply always failing).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loadtests.runner import LoadSpec, run_load

APP = Path(__file__).parent / "load_apps" / "contract_app.py"


@contextmanager
def contract_app(*args: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(APP), *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), f"contract app printed {url!r}"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


FAST_TASKS = {"segments": 6, "initial_segments": 0, "segments_per_second": 20}


@pytest.mark.parametrize(
    ("fault", "view", "scenario", "expected"),
    [
        ("none", "summary", "frontend_tabs", None),
        ("none", "full", "frontend_tabs", None),
        ("decreasing-progress", "summary", "frontend_tabs", "progress decreased"),
        ("foreign-task", "summary", "frontend_tabs", "foreign data"),
        ("wrong-segment-count", "summary", "frontend_tabs", "final segment count"),
        ("wrong-segment-count", "full", "frontend_tabs", "final segment count"),
        ("bad-schema", "summary", "frontend_tabs", "schema"),
        ("status-regress", "summary", "frontend_tabs", "status transition"),
        ("foreign-list", "summary", "dashboard", "foreign data"),
    ],
)
def test_violation_names(
    fault: str, view: str, scenario: str, expected: str | None, tmp_path: Path
) -> None:
    with contract_app("--fault", fault, "--view", view) as url:
        spec = LoadSpec(host=url, scenario=scenario, users=4, rate_per_s=10, duration_s=3,
                        options=FAST_TASKS)  # fmt: skip
        result = run_load(spec, tmp_path)
    names = result.total.failures_by_name
    if expected is None:
        assert names == {}
        assert result.total.requests > 0
        assert result.exit_code == 0
    else:
        assert expected in names, names
        assert result.exit_code == 1  # Locust's own verdict saw the failures too
        assert expected in (tmp_path / "locust_failures.csv").read_text()


def test_upload_end_status_must_be_declared(tmp_path: Path) -> None:
    """The contract app ends every upload `failed`: a failure unless the run expects it."""
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "a.wav").write_bytes(b"RIFF" + bytes(40))
    with contract_app() as url:
        results = {}
        for expect in ("completed", "failed"):
            spec = LoadSpec(
                host=url, scenario="uploads", users=4, rate_per_s=2, duration_s=3,
                options={"audio_dir": str(audio), "expect_upload_status": expect,
                         "poll_interval_s": 0.3},
            )  # fmt: skip
            results[expect] = run_load(spec, tmp_path / expect).total
    assert "upload end status" in results["completed"].failures_by_name
    assert results["failed"].failures_by_name == {}
    assert results["failed"].endpoints["GET /api/tasks/{id} final"].requests > 0
