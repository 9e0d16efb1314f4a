"""Task churn on the real server: tasks that fail in the worker (`fail_after`), and what
the four per-task dicts still hold afterwards (`memdiag_live_entries`), per design."""

from __future__ import annotations

from typing import Any

import pytest

STRUCTURES = ("transcription_tasks", "task_temp_dirs", "task_cancelled",
              "task_diarization_processes")  # fmt: skip


def _create(server: Any, token: str, **synthetic: Any) -> tuple[int, Any]:
    res = server.request("POST", "/api/tasks", {"synthetic": synthetic}, token=token)
    return res.status, res.json()


def _ended(server: Any, token: str, task_id: str) -> Any:
    res = server.request("GET", f"/api/tasks/{task_id}", token=token)
    doc = res.json()
    return doc if doc["status"] in ("completed", "failed", "cancelled") else None


@pytest.mark.parametrize("mode", ["db-polling", "memory-first"])
def test_a_task_failing_in_the_worker_and_what_it_leaves(start_server, wait_for, mode):
    server = start_server("--mode", mode)
    token = server.new_user()
    status, body = _create(server, token, segments=50, segments_per_second=200, fail_after=5)
    assert status == 202, body
    doc = wait_for(lambda: _ended(server, token, body["task_id"]), "the task to end", 60)
    assert doc["status"] == "failed"
    assert "fail_after" in doc["error"]
    assert doc["segment_count"] <= 5
    entries = {s: server.metric("memdiag_live_entries", structure=s) for s in STRUCTURES}
    if mode == "memory-first":
        # Change 6: the worker's finally: pops every per-task entry.
        assert entries == dict.fromkeys(STRUCTURES, 0.0)
    else:
        # db-polling has no cleanup at task end: the failed task's entries stay.
        assert entries["task_temp_dirs"] >= 1 and entries["task_cancelled"] >= 1


def test_fail_after_is_validated(start_server):
    server = start_server("--mode", "lean")
    token = server.new_user()
    status, body = _create(server, token, segments=10, fail_after=-1)
    assert status == 400 and "fail_after" in body["detail"]
    status, body = _create(server, token, segments=10, fail_after="3")
    assert status == 400
