"""A task's child processes killed, and a cancel in every stage, with real children.

The ffmpeg child converts a real upload (`--conversion ffmpeg`); the diarization child
is the synthetic stand-in the server runs for synthetic tasks. Each case checks, from
/proc, that the child is gone (reaped: no zombie left under the server), that the
task's temp dir is gone, and that the task ended `failed` or `cancelled` with a reason.

To catch ffmpeg mid-conversion on any machine, the test stops it with SIGSTOP as soon as
it appears (a frozen child is still a live child: SIGKILL and cancel reach it).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from faultkit import call, children_of, cmdline, proc_state, wait_until

FINAL = ("completed", "failed", "cancelled")
SILENCE = "anullsrc=r=192000:cl=mono"
FFMPEG = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


@pytest.fixture(scope="module")
def long_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five minutes of 192 kHz FLAC silence: small to upload, about a second to convert."""
    path = tmp_path_factory.mktemp("audio") / "silence.flac"
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-i", SILENCE, "-t", "300", "-c:a", "flac", str(path)],
        check=True,
        timeout=120,
    )
    return path


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few seconds of espeak-ng speech, repeated to a minute (20 synthetic segments)."""
    folder = tmp_path_factory.mktemp("speech")
    short = folder / "short.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(short), "the database died and the task went on"],
        check=True,
        timeout=60,
    )
    path = folder / "speech.wav"
    subprocess.run(
        [*FFMPEG, "-stream_loop", "20", "-i", str(short), "-t", "60", str(path)],
        check=True,
        timeout=60,
    )
    return path


def upload(server: Any, token: str, audio: Path) -> str:
    boundary = "faultsboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="conversion"\r\n\r\nffmpeg\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{audio.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + audio.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    res = server.request(
        "POST",
        "/api/tasks",
        data=body,
        token=token,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert res.status == 202, res.body
    return str(res.json()["task_id"])


def synthetic(server: Any, token: str, **spec: Any) -> str:
    res = server.request("POST", "/api/tasks", {"synthetic": spec}, token=token)
    assert res.status == 202, res.body
    return str(res.json()["task_id"])


def child(server: Any, task_id: str, name: str) -> int:
    """The server's child running `name` for this task (its argv names the task's files)."""

    def find() -> int | None:
        for pid in children_of(server.pid):
            argv = cmdline(pid)
            if name in argv and (task_id in argv or name != "ffmpeg"):
                return pid
        return None

    return int(wait_until(find, f"the {name} child of task {task_id}", every_s=0.005))


def status(server: Any, token: str, task_id: str) -> dict[str, Any]:
    res = call(server.url, "GET", f"/api/tasks/{task_id}", token=token)
    assert res.status == 200, res.body
    return dict(res.json())


def ended(server: Any, token: str, task_id: str) -> dict[str, Any]:
    return dict(
        wait_until(
            lambda: (b := status(server, token, task_id))["status"] in FINAL and b,
            f"task {task_id} to end",
        )
    )


def assert_clean(server: Any, upload_dir: Path, task_id: str, pid: int | None) -> None:
    if pid is not None:
        wait_until(lambda: proc_state(pid) is None, f"child {pid} reaped (state {proc_state(pid)})")
    zombies = [p for p in children_of(server.pid) if proc_state(p) == "Z"]
    assert zombies == [], f"zombie children of the server: {zombies}"
    wait_until(
        lambda: list(upload_dir.glob(f"memdiag-task-{task_id}-*")) == [],
        f"task {task_id}'s temp dir removed",
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["db-polling", "memory-first", "lean"])
def test_children_killed_and_cancel_in_every_stage(
    start_server, upload_dir, long_audio, speech_wav, mode
):
    server = start_server("--mode", mode, "--upload-dir", str(upload_dir))
    token = server.new_user()

    # ffmpeg killed mid-conversion: the task fails and says so.
    task = upload(server, token, long_audio)
    pid = child(server, task, "ffmpeg")
    os.kill(pid, signal.SIGSTOP)
    assert status(server, token, task)["status"] == "converting"
    os.kill(pid, signal.SIGKILL)
    final = ended(server, token, task)
    assert final["status"] == "failed", final
    assert "ffmpeg was killed by signal 9" in final["error"], final["error"]
    assert_clean(server, upload_dir, task, pid)

    # Cancel while converting: ffmpeg is ended, the task is cancelled (not failed).
    task = upload(server, token, long_audio)
    pid = child(server, task, "ffmpeg")
    os.kill(pid, signal.SIGSTOP)
    res = call(server.url, "POST", f"/api/tasks/{task}/cancel", token=token)
    assert res.status == 200 and res.json()["status"] == "cancelled", res.body
    final = ended(server, token, task)
    assert (final["status"], final["error"]) == ("cancelled", "cancelled by user"), final
    assert_clean(server, upload_dir, task, pid)

    # Cancel while transcribing an upload (speech converted for real, then transcribed).
    task = upload(server, token, speech_wav)
    wait_until(
        lambda: status(server, token, task)["status"] == "transcribing",
        "transcribing",
        every_s=0.02,
    )
    res = call(server.url, "POST", f"/api/tasks/{task}/cancel", token=token)
    assert res.status == 200 and res.json()["status"] == "cancelled", res.body
    final = ended(server, token, task)
    assert (final["status"], final["error"]) == ("cancelled", "cancelled by user"), final
    assert final["segment_count"] < 20, "the cancel came after the last segment"
    assert_clean(server, upload_dir, task, None)

    # The diarization child killed: the task fails with the signal in its reason.
    spec = {"segments": 10, "segments_per_second": 500, "diarize": True, "diarize_seconds": 60}
    task = synthetic(server, token, **spec)
    pid = child(server, task, "synthetic_diarize")
    os.kill(pid, signal.SIGKILL)
    final = ended(server, token, task)
    assert final["status"] == "failed", final
    assert "diarization child process killed by signal 9" in final["error"], final["error"]
    assert_clean(server, upload_dir, task, pid)

    # Cancel while diarizing.
    task = synthetic(server, token, **spec)
    pid = child(server, task, "synthetic_diarize")
    wait_until(lambda: status(server, token, task)["status"] == "diarizing", "diarizing")
    res = call(server.url, "POST", f"/api/tasks/{task}/cancel", token=token)
    assert res.status == 200 and res.json()["status"] == "cancelled", res.body
    final = ended(server, token, task)
    assert (final["status"], final["error"]) == ("cancelled", "cancelled by user"), final
    assert_clean(server, upload_dir, task, pid)

    # Nothing leaked into the next task: a plain one still completes.
    task = synthetic(server, token, segments=5, segments_per_second=100)
    assert ended(server, token, task)["status"] == "completed"
