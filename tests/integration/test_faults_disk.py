"""The upload disk fills up: a 1 MiB tmpfs mounted as the server's upload dir.

An upload larger than the free space fails mid-stream with ENOSPC: the server answers
507 with the JSON error body, leaves no partial file or temp dir behind, and goes on
serving (uploads that fit, synthetic tasks, polls). A synthetic task created while the
disk is full gets the same 507 and leaves nothing either.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import call, wait_until


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "tiny"
    path.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mount.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (needs root): {mount.stderr.strip()}", pytrace=False)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def multipart(name: str, payload: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "diskfullboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def ended(server: Any, token: str, task_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = call(server.url, "GET", f"/api/tasks/{task_id}", token=token).json()
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    return dict(wait_until(check, f"task {task_id} to end"))


def assert_json_507(res: Any) -> None:
    assert res.status == 507, (res.status, res.body)
    body = res.json()
    assert body["error"] == "insufficient_storage" and "no space left" in body["detail"], body


@pytest.mark.slow
def test_disk_full_during_upload_answers_507_and_leaves_nothing(start_server, tiny_disk, tmp_path):
    server = start_server("--mode", "lean", "--upload-dir", str(tiny_disk))
    token = server.new_user()

    data, headers = multipart("big.wav", os.urandom(2 * 1024 * 1024))
    res = server.request("POST", "/api/tasks", data=data, token=token, headers=headers)
    assert_json_507(res)
    assert list(tiny_disk.iterdir()) == [], "a partial upload was left behind"

    # A file that fits is stored, converted and transcribed on the same disk.
    speech = tmp_path / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(speech), "the disk was full a moment ago"], check=True, timeout=60
    )
    data, headers = multipart("speech.wav", speech.read_bytes())
    res = server.request("POST", "/api/tasks", data=data, token=token, headers=headers)
    assert res.status == 202, res.body
    final = ended(server, token, res.json()["task_id"])
    assert final["status"] == "completed", final

    # The disk full before anything is written: a synthetic task's temp file fails too.
    filler = tiny_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError) as full:
            while True:
                os.write(fd, b"\0" * 65536)
        assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    res = call(server.url, "POST", "/api/tasks", {"synthetic": {"segments": 5}}, token=token)
    assert_json_507(res)
    assert [p.name for p in tiny_disk.iterdir()] == ["filler"]
    filler.unlink()

    res = call(server.url, "POST", "/api/tasks", {"synthetic": {"segments": 5}}, token=token)
    assert res.status == 202, res.body
    assert ended(server, token, res.json()["task_id"])["status"] == "completed"
    assert call(server.url, "GET", "/healthz").status == 200
    listing = call(server.url, "GET", "/api/tasks", token=token).json()
    assert listing["total_count"] == 2, "a failed upload or create left a task behind"
