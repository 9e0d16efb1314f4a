"""The server is SIGKILLed under load with 20 live tasks, and a new one starts on its data.

No shutdown code runs in a SIGKILLed process, so what the new server finds is what a
crash leaves: tasks marked running in the DB and their temp dirs on disk. It must fail
every one of them with "server restarted" (nothing stays running) and remove their
temp dirs, and leave alone a temp dir of a task its database does not know (another
server's, in a shared upload dir).
"""

from __future__ import annotations

import uuid

import pytest
from faultkit import Pollers, call, wait_until

TASKS = 20
ACTIVE = ("queued", "converting", "transcribing", "diarizing")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["db-polling", "memory-first", "lean"])
def test_server_killed_under_load_fails_its_tasks_on_restart(
    start_server, database_name, upload_dir, mode
):
    args = ("--mode", mode, "--upload-dir", str(upload_dir), "--workers", "10")
    first = start_server(*args)
    token = first.new_user()
    tasks = []
    for i in range(TASKS):
        # Long tasks: they would run for minutes.
        spec = {"segments": 3000, "segments_per_second": 20, "words_per_segment": 4, "seed": i}
        res = call(first.url, "POST", "/api/tasks", {"synthetic": spec}, token=token)
        assert res.status == 202, res.body
        tasks.append(res.json()["task_id"])
    foreign = upload_dir / f"memdiag-task-{uuid.uuid4().hex}-keep"
    foreign.mkdir()

    with Pollers(first.url, token, [f"/api/tasks/{t}" for t in tasks], interval_s=0.5) as polls:

        def running() -> int:
            replies = polls.snapshot()[-TASKS * 2 :]
            live = {p for p, r in replies if r.status == 200 and r.json()["segment_count"] > 0}
            return len(live) >= 10  # the 10 workers are busy, the rest queued

        wait_until(running, "ten tasks transcribing")
        assert all(list(upload_dir.glob(f"memdiag-task-{t}-*")) for t in tasks)
        first.proc.kill()  # SIGKILL under load: no cleanup runs
        first.proc.wait(30)

    second = start_server(*args, database=database_name)
    listing = call(second.url, "GET", "/api/tasks", token=token).json()
    assert listing["active_count"] == 0, listing["active_tasks"][:3]
    assert sorted(e["task_id"] for e in listing["all_tasks"]) == sorted(tasks)
    for t in tasks:
        body = call(second.url, "GET", f"/api/tasks/{t}", token=token).json()
        assert body["status"] == "failed", body["status"]
        assert body["error"] == "server restarted"
        assert body["finished_at"] is not None
        assert list(upload_dir.glob(f"memdiag-task-{t}-*")) == [], t
    assert foreign.is_dir(), "a temp dir of a task this DB does not know was removed"
    # The new server still works.
    res = call(second.url, "POST", "/api/tasks", {"synthetic": {"segments": 5}}, token=token)
    assert res.status == 202, res.body
