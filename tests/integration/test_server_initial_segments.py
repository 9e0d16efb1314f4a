"""Pre-grown tasks: `initial_segments` lands at once in every design, each segment once.

Equal work across designs rests on this: a scenario polls tasks that start at their
target size, written the way each design writes (db-polling's merge, memory-first's live
dict and final write, lean's chunks), and then trickle on at `segments_per_second`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from reference_server.pipeline.engines.synthetic import SyntheticParams, generate

MODES = ["db-polling", "memory-first", "lean"]


def _create(server: Any, token: str, **synthetic: Any) -> str:
    res = server.request("POST", "/api/tasks", {"synthetic": synthetic}, token=token)
    assert res.status == 202, res.body
    return str(res.json()["task_id"])


def _status(server: Any, token: str, task_id: str) -> dict[str, Any]:
    res = server.request("GET", f"/api/tasks/{task_id}", token=token)
    assert res.status == 200, res.body
    return dict(res.json())


def _all_segments(server: Any, token: str, task_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        res = server.request(
            "GET", f"/api/tasks/{task_id}/segments?offset={len(out)}&limit=500", token=token
        )
        assert res.status == 200, res.body
        page = res.json()["segments"]
        if not page:
            return out
        out.extend(page)


@pytest.mark.parametrize("mode", MODES)
def test_initial_segments_land_at_once_then_trickle(start_server, mode, wait_for):
    server = start_server("--mode", mode)
    token = server.new_user()
    params = {"segments": 420, "initial_segments": 400, "segments_per_second": 10, "seed": 7}
    task_id = _create(server, token, **params)

    # The first status that shows the task transcribing already has (nearly) all 400:
    # they are emitted without waiting, while the trickle adds one every 0.1 s.
    first = wait_for(
        lambda: (s := _status(server, token, task_id))["segment_count"] >= 400 and s,
        "the initial segments to land",
        timeout_s=60,
    )
    assert first["status"] in ("transcribing", "completed")
    if mode == "db-polling":
        # db-polling's polls read the DB: the pre-grown segments were checkpointed.
        assert first["segment_count"] >= 400
    done = wait_for(
        lambda: (s := _status(server, token, task_id))["status"] == "completed" and s,
        "the task to complete",
        timeout_s=60,
    )
    assert done["segment_count"] == 420
    got = _all_segments(server, token, task_id)
    expected = generate(SyntheticParams(segments=420, seed=7))
    assert [s["id"] for s in got] == list(range(420)), "every segment exactly once, in order"
    assert [s["text"] for s in got] == [s["text"] for s in expected]


def test_initial_segments_checkpoint_in_one_write(start_server, wait_for):
    """db-polling writes the pre-grown task with one checkpoint, not one per segment."""
    server = start_server("--mode", "db-polling")
    token = server.new_user()
    updates_before = server.metric("memdiag_db_commands_total", command="update")
    task_id = _create(server, token, segments=1001, initial_segments=1000, segments_per_second=0.05)
    wait_for(
        lambda: _status(server, token, task_id)["segment_count"] >= 1000,
        "the pre-grown checkpoint",
        timeout_s=60,
    )
    time.sleep(0.5)
    updates = server.metric("memdiag_db_commands_total", command="update") - updates_before
    # The stage change to transcribing, and the checkpoint of the 1,000 segments.
    assert 1 <= updates <= 3, f"{updates} update commands for one pre-grown task"
    server.request("POST", f"/api/tasks/{task_id}/cancel", token=token)


def test_initial_segments_cannot_exceed_segments(start_server):
    server = start_server("--mode", "lean")
    token = server.new_user()
    res = server.request(
        "POST", "/api/tasks", {"synthetic": {"segments": 10, "initial_segments": 11}}, token=token
    )
    assert res.status == 422  # each field valid alone: unprocessable together
    assert "initial_segments" in res.json()["detail"]


@pytest.mark.slow
def test_a_3000_segment_task_at_100_per_second_completes_with_every_segment(
    start_server, database_name
):
    """The default engine's pace in every design: the task ends completed, each segment once.

    The three designs run side by side (a server and a database each), so the 30 s of
    segments are waited for once, not once per design. How long it takes is a benchmark's
    question, not this test's: a hang ends at the per-test timeout, which names the test.
    """
    servers = {
        mode: start_server("--mode", mode, database=f"{database_name}_{mode.replace('-', '_')}")
        for mode in MODES
    }
    tokens = {mode: server.new_user() for mode, server in servers.items()}
    tasks = {
        mode: _create(server, tokens[mode], segments=3000, segments_per_second=100, seed=3)
        for mode, server in servers.items()
    }
    done = {mode: _status(servers[mode], tokens[mode], tasks[mode]) for mode in MODES}
    seen = {mode: [done[mode]["segment_count"]] for mode in MODES}
    while any(d["status"] not in ("completed", "failed", "cancelled") for d in done.values()):
        time.sleep(1.0)  # a frontend's pace: faster polls would load db-polling's DB too
        for mode in MODES:
            if done[mode]["status"] not in ("completed", "failed", "cancelled"):
                done[mode] = _status(servers[mode], tokens[mode], tasks[mode])
                seen[mode].append(done[mode]["segment_count"])
    expected = generate(SyntheticParams(segments=3000, seed=3))
    for mode, server in servers.items():
        assert done[mode]["status"] == "completed", (mode, done[mode])
        assert done[mode]["segment_count"] == 3000, mode
        assert seen[mode] == sorted(seen[mode]), f"{mode}: the segment count went backwards"
        got = _all_segments(server, tokens[mode], tasks[mode])
        assert [s["id"] for s in got] == list(range(3000)), f"{mode}: each segment once, in order"
        assert [s["text"] for s in got[::500]] == [s["text"] for s in expected[::500]], mode
