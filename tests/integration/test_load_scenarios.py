"""Each Locust scenario, headless for a few seconds, against the real reference server.

The server runs as a subprocess on the real embedded DB (fixture `mongo_uri`); the load
runs through `loadtests.runner` (Locust in its own process). Rates are modest because
two cores are shared with the server, the DB and other test runs.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests.results import LoadResult
from loadtests.runner import LoadSpec, run_load

# Each scenario asserts its achieved rate (within 5 %) and an unsaturated generator:
# needs the CPU to itself.
pytestmark = pytest.mark.serial


def start_reference_server(mongo_uri: str, database: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reference_server", "--mode", mode, "--port", "0",
         "--mongo-uri", mongo_uri, "--database", database],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


@pytest.fixture(params=["lean"])
def server_url(request: pytest.FixtureRequest, mongo_uri: str, database_name: str) -> Iterator[str]:
    proc = start_reference_server(mongo_uri, database_name, request.param)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), f"reference server printed {url!r}, exit {proc.poll()}"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def assert_clean(result: LoadResult, stream: str) -> None:
    steady = result.steady
    assert steady.requests > 0
    assert steady.failures == 0, steady.failures_by_name
    achieved = steady.streams[stream]
    assert achieved.achieved_ratio == pytest.approx(1.0, abs=0.05), achieved
    assert not result.generator.saturated
    assert result.problems() == []


def test_frontend_tabs(server_url: str, tmp_path: Path) -> None:
    spec = LoadSpec(
        host=server_url, scenario="frontend_tabs", users=16, rate_per_s=10, duration_s=5,
        warmup_s=1, options={"segments": 10, "initial_segments": 0, "segments_per_second": 10},
    )  # fmt: skip
    result = run_load(spec, tmp_path)
    assert_clean(result, "poll")
    # Lean's status view carries no segments, so finished tasks were read page by page.
    assert result.total.endpoints["GET /api/tasks/{id}/segments"].requests > 0
    assert result.scenario == "frontend_tabs"
    assert (tmp_path / "locust_stats.csv").is_file()


def test_polling_storm(server_url: str, tmp_path: Path) -> None:
    spec = LoadSpec(
        host=server_url, scenario="polling_storm", users=20, rate_per_s=10, duration_s=5,
        warmup_s=1,
        options={"storm_tasks": 2, "segments": 300, "initial_segments": 0,
                 "segments_per_second": 50},
    )  # fmt: skip
    assert_clean(run_load(spec, tmp_path), "poll")


def test_dashboard(server_url: str, tmp_path: Path) -> None:
    spec = LoadSpec(
        host=server_url, scenario="dashboard", users=12, rate_per_s=5, duration_s=5,
        warmup_s=1,
        options={"tasks_per_user": 1, "segments": 10, "initial_segments": 0,
                 "segments_per_second": 5},
    )  # fmt: skip
    result = run_load(spec, tmp_path)
    assert_clean(result, "list")
    assert result.steady.endpoints["GET /api/tasks"].requests >= 20  # 5/s for 5 s


def write_wavs(folder: Path, count: int = 2) -> Path:
    folder.mkdir()
    for i in range(count):
        with wave.open(str(folder / f"tone{i}.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            samples = (int(8000 * math.sin(2 * math.pi * 220 * (i + 1) * t / 16000))
                       for t in range(8000))  # fmt: skip
            out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return folder


def test_uploads(server_url: str, tmp_path: Path) -> None:
    audio = write_wavs(tmp_path / "audio")
    spec = LoadSpec(
        host=server_url, scenario="uploads", users=20, rate_per_s=2, duration_s=5, warmup_s=1,
        options={"audio_dir": str(audio), "poll_interval_s": 0.5,
                 # The server converts each upload (pydub, ffmpeg) and transcribes it with
                 # the synthetic engine: every one must complete.
                 "expect_upload_status": "completed"},
    )  # fmt: skip
    result = run_load(spec, tmp_path / "out")
    assert_clean(result, "upload")
    assert result.total.endpoints["GET /api/tasks/{id} final"].requests > 0


def test_soak(server_url: str, tmp_path: Path) -> None:
    spec = LoadSpec(
        host=server_url, scenario="soak", users=25, rate_per_s=8, duration_s=5, warmup_s=1,
        options={"list_rate": 4, "segments": 10, "initial_segments": 0, "segments_per_second": 10},
    )  # fmt: skip
    result = run_load(spec, tmp_path)
    assert_clean(result, "poll")
    assert_clean(result, "list")
    assert result.scenario == "soak"


def test_task_churn(server_url: str, tmp_path: Path) -> None:
    """Short tasks that complete, get cancelled or fail in the worker, each end checked."""
    spec = LoadSpec(
        host=server_url, scenario="task_churn", users=8, rate_per_s=8, duration_s=6,
        warmup_s=1, options={"segments": 20, "segments_per_second": 10},
    )  # fmt: skip
    result = run_load(spec, tmp_path)
    assert_clean(result, "poll")
    total = result.total.endpoints
    assert total["POST /api/tasks"].requests >= 3
    assert total["POST /api/tasks/{id}/cancel"].requests >= 1
    assert "task end" not in total or total["task end"].failures == 0
    # Every way to end happened in the worker: the server counts the ends by status.
    with urllib.request.urlopen(server_url.rstrip("/") + "/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    for status in ("completed", "failed", "cancelled"):
        assert f'memdiag_tasks_finished_total{{status="{status}"}}' in metrics, status
