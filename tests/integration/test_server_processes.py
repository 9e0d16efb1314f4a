"""Two server processes on one port: memory-first's "zero DB reads" holds only in the
process that runs the task; polls that land elsewhere read the DB and see stale state."""

from __future__ import annotations

import socket
import time

import psutil
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", ["memory-first", "lean"])
def test_polls_reaching_another_process_read_the_db(start_server, mode):
    server = start_server("--mode", mode, "--processes", "2", "--port", str(free_port()))
    deadline = time.monotonic() + 30
    while len(psutil.Process(server.pid).children()) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    token = server.new_user()
    task_id = server.request(
        "POST",
        "/api/tasks",
        {"synthetic": {"segments": 3000, "segments_per_second": 100}},
        token=token,
    ).json()["task_id"]

    def views(n: int = 20) -> list[dict]:
        return [
            server.request("GET", f"/api/tasks/{task_id}", token=token).json() for _ in range(n)
        ]

    deadline = time.monotonic() + 60
    seen: set[str] = set()
    while time.monotonic() < deadline:
        batch = views()
        seen |= {v["status"] for v in batch}
        if mode == "memory-first" and {"queued", "transcribing"} <= seen:
            break  # the other process only has the DB's copy: still 'queued'
        if (
            mode == "lean"
            and seen <= {"queued", "transcribing"}
            and min(v["segment_count"] for v in batch) > 0
        ):
            break  # lean checkpoints progress, so every process answers a running task
        time.sleep(0.5)
    if mode == "memory-first":
        assert {"queued", "transcribing"} <= seen, seen
    else:
        assert seen <= {"queued", "transcribing"} and min(v["segment_count"] for v in batch) > 0, (
            batch
        )
    server.request("POST", f"/api/tasks/{task_id}/cancel", token=token)
