"""Real audio through the real server: upload, convert, transcribe, diarize, in every mode.

Marked `engines`: the server runs faster-whisper's tiny.en model and a randomly initialised
pyannote pipeline (built locally) in its diarization child.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pymongo
import pytest

pytestmark = pytest.mark.engines


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def upload(server: Any, token: str, wav: Path, **fields: str) -> str:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{wav.name}"\r\nContent-Type: audio/wav\r\n\r\n'.encode()
        + wav.read_bytes()
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    res = server.request(
        "POST",
        "/api/tasks",
        data=body,
        token=token,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert res.status == 202, res.body
    return str(res.json()["task_id"])


def status(server: Any, token: str, task_id: str) -> dict[str, Any]:
    res = server.request("GET", f"/api/tasks/{task_id}", token=token)
    assert res.status == 200, res.body
    return dict(res.json())


def finished(server: Any, token: str, task_id: str) -> dict[str, Any]:
    terminal = {"completed", "failed", "cancelled"}
    body = wait_for(
        lambda: (s := status(server, token, task_id))["status"] in terminal and s, "the task end"
    )
    return dict(body)


def segments(server: Any, token: str, task_id: str) -> list[dict[str, Any]]:
    res = server.request("GET", f"/api/tasks/{task_id}/segments?offset=0&limit=100", token=token)
    assert res.status == 200, res.body
    return list(res.json()["segments"])


def diarize_children(server: Any) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(server.pid).children()
        if "reference_server.pipeline.diarize_child" in " ".join(p.cmdline())
    ]


@pytest.mark.parametrize(
    ("mode", "conversion"),
    [("db-polling", "pydub"), ("memory-first", "ffmpeg"), ("lean", "pydub"), ("lean", "ffmpeg")],
)
def test_spoken_sentence_is_transcribed_with_word_timestamps(
    start_server: Any,
    mongo_uri: str,
    upload_dir: Path,
    spoken_wav: Path,
    speech_key_words: tuple[str, ...],
    mode: str,
    conversion: str,
) -> None:
    server = start_server(
        "--mode", mode, "--engine", "faster-whisper", "--conversion", conversion,
        "--upload-dir", str(upload_dir),
    )  # fmt: skip
    token = server.new_user()
    task_id = upload(server, token, spoken_wav)
    final = finished(server, token, task_id)
    assert final["status"] == "completed", final
    assert final["error"] is None
    assert final["progress"] == 100
    segs = segments(server, token, task_id)
    assert final["segment_count"] == len(segs) > 0
    text = " ".join(s["text"] for s in segs).lower()
    for word in speech_key_words:
        assert word in text, f"{word!r} not in {text!r}"
    for seg in segs:
        assert seg["words"], seg
        for w in seg["words"]:
            assert seg["start"] - 0.01 <= w["start"] <= w["end"] <= seg["end"] + 0.01
    if mode != "lean":  # the full views carry the segments too
        assert [s["text"] for s in final["segments"]] == [s["text"] for s in segs]
    with pymongo.MongoClient(mongo_uri) as client:
        doc = client[server.database].tasks.find_one({"_id": task_id})
    assert doc is not None
    memory = doc.get("stage_memory") or {}
    for stage in ("conversion", "transcription"):
        assert memory[stage]["peak_rss_after_bytes"] >= memory[stage]["peak_rss_before_bytes"] > 0
    assert list(upload_dir.iterdir()) == [], "temp files left behind"


def test_upload_is_diarized_by_the_local_pipeline(
    start_server: Any, upload_dir: Path, spoken_wav: Path, random_pipeline: Path
) -> None:
    server = start_server(
        "--mode", "memory-first", "--engine", "faster-whisper",
        "--diarization-model", str(random_pipeline), "--upload-dir", str(upload_dir),
    )  # fmt: skip
    token = server.new_user()
    task_id = upload(server, token, spoken_wav, diarize="true")
    final = finished(server, token, task_id)
    assert final["status"] == "completed", final
    segs = segments(server, token, task_id)
    assert segs and all(str(s["speaker"]).startswith("SPEAKER_") for s in segs), segs
    assert diarize_children(server) == []
    assert list(upload_dir.iterdir()) == []


@pytest.mark.parametrize("how", ["cancel", "kill"])
def test_diarization_child_cancelled_or_killed(
    start_server: Any, upload_dir: Path, spoken_wav: Path, random_pipeline: Path, how: str
) -> None:
    server = start_server(
        "--mode", "lean", "--engine", "faster-whisper",
        "--diarization-model", str(random_pipeline), "--upload-dir", str(upload_dir),
    )  # fmt: skip
    token = server.new_user()
    task_id = upload(server, token, spoken_wav, diarize="true")
    children = wait_for(lambda: diarize_children(server), "the diarization child")
    assert status(server, token, task_id)["status"] == "diarizing"
    pid = children[0].pid
    if how == "cancel":
        res = server.request("POST", f"/api/tasks/{task_id}/cancel", token=token)
        assert res.status == 200, res.body
    else:
        os.kill(pid, signal.SIGKILL)  # as the OOM killer would
    final = finished(server, token, task_id)
    wait_for(lambda: not psutil.pid_exists(pid), "the child's PID to go")
    if how == "cancel":
        assert final["status"] == "cancelled", final
    else:
        assert final["status"] == "failed", final
        assert "killed by SIGKILL" in str(final["error"])
    wait_for(lambda: list(upload_dir.iterdir()) == [], "temp files to be removed", 30)
