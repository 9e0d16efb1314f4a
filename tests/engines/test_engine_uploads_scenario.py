"""The uploads load scenario against real audio and a real engine: espeak-ng speech,
faster-whisper on the server, every upload expected to complete."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loadtests.runner import LoadSpec, run_load

pytestmark = pytest.mark.engines


@pytest.mark.parametrize("mode", ["memory-first", "lean"])
def test_uploads_scenario_with_faster_whisper(start_server, spoken_wav: Path, tmp_path, mode):
    audio = tmp_path / "audio"
    audio.mkdir()
    shutil.copy(spoken_wav, audio / "speech.wav")
    server = start_server("--mode", mode, "--engine", "faster-whisper", "--workers", "2")
    spec = LoadSpec(
        host=server.url,
        scenario="uploads",
        users=6,
        rate_per_s=0.5,
        duration_s=8,
        warmup_s=1,
        options={"audio_dir": str(audio), "poll_interval_s": 0.5,
                 "expect_upload_status": "completed"},
        timeout_s=600,
    )  # fmt: skip
    result = run_load(spec, tmp_path / "out")
    assert result.total.endpoints["POST /api/tasks (upload)"].requests >= 3
    final = result.total.endpoints["GET /api/tasks/{id} final"]
    assert final.requests > 0, "no upload was followed to its end"
    assert result.total.failures == 0, result.total.failures_by_name
