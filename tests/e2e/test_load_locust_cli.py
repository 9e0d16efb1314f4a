"""Real Locust processes as a user starts them: the web UI with the scenario's arguments,
and distributed load with `--processes 2`, against the real reference server."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.runner import SCENARIO_DIR, LoadSpec, run_load


@pytest.fixture
def lean_url(mongo_uri: str, database_name: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--mode", "lean", "--port", "0",
         "--mongo-uri", mongo_uri, "--database", database_name],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), f"reference server printed {url!r}"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, data: dict[str, str] | None = None) -> str:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=10) as resp:
        return str(resp.read().decode())


def wait_for_page(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"locust exited {proc.returncode}"
        try:
            return get(url)
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"Locust web UI never answered at {url}")


def test_web_ui_shows_and_applies_scenario_arguments(lean_url: str, tmp_path: Path) -> None:
    port = free_port()
    result_file = tmp_path / "ui.json"
    log = (tmp_path / "locust.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(SCENARIO_DIR / "polling_storm.py"),
         "--host", lean_url, "--web-host", "127.0.0.1", "--web-port", str(port),
         "--result-file", str(result_file)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        page = wait_for_page(f"http://127.0.0.1:{port}/", proc)
        for name in ("poll_rate", "storm_tasks", "segments_per_second", "warmup_s"):
            assert f'"{name}"' in page, f"{name} missing from the web UI's extra options"
        assert "status polls per second, total over all users and processes" in page
        # Start a test from the UI with our own values, as a person would.
        started = json.loads(get(f"http://127.0.0.1:{port}/swarm", {
            "user_count": "4", "spawn_rate": "4", "host": lean_url, "poll_rate": "6",
            "storm_tasks": "1", "segments": "40", "segments_per_second": "20",
        }))  # fmt: skip
        assert started["success"], started
        time.sleep(4)
        get(f"http://127.0.0.1:{port}/stop", {})  # POST
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    doc = json.loads(result_file.read_text())
    assert doc["targets_per_s"] == {"poll": 6.0}
    assert doc["phases"]["total"]["endpoints"]["GET /api/tasks/{id}"]["requests"] > 0
    assert doc["schema_version"] == 1


def locust_count(csv_path: Path, name: str) -> int:
    with csv_path.open() as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == name:
                return int(row["Request Count"])
    raise AssertionError(f"{name} not in {csv_path}")


@pytest.mark.serial  # asserts the achieved rate within 5 %: needs the CPU to itself
def test_two_processes_keep_the_total_rate_and_merge_histograms(
    lean_url: str, tmp_path: Path
) -> None:
    spec = LoadSpec(
        host=lean_url, scenario="frontend_tabs", users=8, rate_per_s=12, duration_s=5,
        warmup_s=1, processes=2,
        options={"segments": 10, "initial_segments": 0, "segments_per_second": 10},
    )  # fmt: skip
    result = run_load(spec, tmp_path)
    assert result.workers == 2
    roles = sorted(p.role for p in result.generator.processes)
    assert roles == ["master", "worker", "worker"]
    assert len({p.pid for p in result.generator.processes}) == 3
    poll = result.steady.streams["poll"]
    assert poll.achieved_ratio == pytest.approx(1.0, abs=0.05)  # the total, not per process
    assert result.steady.failures == 0, result.steady.failures_by_name
    # Both workers' histograms reached the master: its counts match Locust's own.
    polls = result.total.endpoints["GET /api/tasks/{id}"].requests
    assert abs(polls - locust_count(tmp_path / "locust_stats.csv", "GET /api/tasks/{id}")) <= 2
