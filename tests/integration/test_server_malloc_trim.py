"""The `malloc_trim` switch (a cause the fix report missed) on the real server and DB:
it parses, and a task ends with it on, the worker trimming after its cleanup."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from reference_server.pipeline import trim


def _ended(server: Any, token: str, task_id: str) -> Any:
    doc = server.request("GET", f"/api/tasks/{task_id}", token=token).json()
    return doc if doc["status"] in ("completed", "failed", "cancelled") else None


def test_the_switch_parses_and_is_off_in_every_preset() -> None:
    for mode, expected in (("memory-first", False), ("memory-first:malloc_trim=true", True)):
        name, _, sets = mode.partition(":")
        argv = [sys.executable, "-m", "reference_server", "--check", "--mode", name]
        argv += ["--set", sets] if sets else []
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        assert json.loads(out)["switches"]["malloc_trim"] is expected
    bad = subprocess.run(
        [sys.executable, "-m", "reference_server", "--check", "--set", "malloc_trim=maybe"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "malloc_trim takes true or false" in bad.stderr


def test_a_task_ends_and_the_worker_trims(start_server, wait_for) -> None:
    server = start_server(
        "--mode", "memory-first", "--set", "malloc_trim=true", "--log-level", "info"
    )  # fmt: skip
    token = server.new_user()
    res = server.request(
        "POST", "/api/tasks", {"synthetic": {"segments": 20, "segments_per_second": 200}},
        token=token,
    )  # fmt: skip
    assert res.status == 202, res.json()
    task_id = res.json()["task_id"]
    doc = wait_for(lambda: _ended(server, token, task_id), "the task to end", 60)
    assert doc["status"] == "completed" and doc["segment_count"] == 20
    # The trim runs in the worker's finally:, after the cleanup's log line.
    line = f"task {task_id}: malloc_trim(0) -> "
    wait_for(lambda: line in server.stderr_text(), "the worker's malloc_trim", 20)
    text = server.stderr_text()
    assert text.index(f"task {task_id}: memory cleanup done") < text.index(line)
    # This test process runs glibc's malloc: the call is made (True or False, not None).
    assert text.split(line, 1)[1].split()[0] in ("True", "False")
    assert trim.trim() in (True, False)
