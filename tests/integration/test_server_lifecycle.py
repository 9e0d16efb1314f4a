"""Task lifecycle in every mode and driver: ownership, bad input, cancel, uploads, restarts."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pymongo
import pytest

MODES = ["db-polling", "memory-first", "lean"]
DRIVERS = ["motor", "pymongo-async"]


def create(server: Any, token: str, **spec: Any) -> str:
    res = server.request("POST", "/api/tasks", {"synthetic": spec}, token=token)
    assert res.status == 202, res.body
    return str(res.json()["task_id"])


def status(server: Any, token: str, task_id: str) -> dict[str, Any]:
    res = server.request("GET", f"/api/tasks/{task_id}", token=token)
    assert res.status == 200, res.body
    return dict(res.json())


def task_dirs(upload_dir: Path, task_id: str) -> list[Path]:
    return list(upload_dir.glob(f"memdiag-task-{task_id}-*"))


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
def test_ownership_ids_and_final_document(
    start_server, mongo_uri, mode, driver, upload_dir, wait_for
):
    server = start_server("--mode", mode, "--driver", driver, "--upload-dir", str(upload_dir))
    alice, bob = server.new_user("alice"), server.new_user("bob")
    # Small documents: db-polling reads the whole task on every poll and checkpoint, and
    # this test is about ownership and the final document, not about size.
    task_id = create(server, alice, segments=160, segments_per_second=100, words_per_segment=4)

    wait_for(lambda: status(server, alice, task_id)["segment_count"] > 0, "first segments")
    # Live (memory-first and lean answer from the in-memory dict here) and not yours: 404.
    for path in (f"/api/tasks/{task_id}", f"/api/tasks/{task_id}/segments"):
        res = server.request("GET", path, token=bob)
        assert res.status == 404, (path, res.body)
        assert res.json()["error"] == "not_found"
    assert server.request("POST", f"/api/tasks/{task_id}/cancel", token=bob).status == 404
    assert server.request("DELETE", f"/api/tasks/{task_id}", token=alice).status == 409

    seen: list[float] = []

    def ended() -> dict[str, Any] | None:
        body = status(server, alice, task_id)
        seen.append(body["progress"])
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    final = wait_for(ended, "the task to end")
    assert final["status"] == "completed", final
    assert seen == sorted(seen), "progress went backwards"
    assert server.request("GET", f"/api/tasks/{task_id}", token=bob).status == 404
    assert server.request("GET", "/api/tasks", token=bob).json()["total_count"] == 0
    listing = server.request("GET", "/api/tasks", token=alice).json()
    assert listing["total_count"] == 1 and listing["all_tasks"][0]["task_id"] == task_id

    for bad in ("nope", "0" * 31, "Z" * 32, task_id.upper(), "%24where"):
        res = server.request("GET", f"/api/tasks/{bad}", token=alice)
        assert res.status == 404, (bad, res.status, res.body)
    assert server.request("GET", f"/api/tasks/{task_id}", token="wrong").status == 401

    # Exactly N segments in the DB, wherever the design stores them.
    with pymongo.MongoClient(mongo_uri) as client:
        db = client[server.database]
        doc = db.tasks.find_one({"_id": task_id})
        assert doc is not None and doc["status"] == "completed"
        if mode == "lean":
            assert "segments" not in doc
            chunks = [db.segment_chunks.find_one({"_id": f"{task_id}:{i}"}) for i in range(8)]
            stored = [s for c in chunks if c for s in c["segments"]]
        else:
            stored = doc["segments"]
        assert [s["id"] for s in stored] == list(range(160))
    assert task_dirs(upload_dir, task_id) == []
    assert server.request("DELETE", f"/api/tasks/{task_id}", token=alice).status == 204
    assert server.request("GET", f"/api/tasks/{task_id}", token=alice).status == 404


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
def test_cancel_ends_child_process_and_removes_temp_files(
    start_server, mode, driver, upload_dir, wait_for
):
    server = start_server("--mode", mode, "--driver", driver, "--upload-dir", str(upload_dir))
    token = server.new_user()
    task_id = create(
        server, token, segments=20, segments_per_second=500, diarize=True, diarize_seconds=60
    )
    wait_for(lambda: status(server, token, task_id)["status"] == "diarizing", "diarizing")
    children = wait_for(
        lambda: [
            p
            for p in psutil.Process(server.pid).children()
            if "synthetic_diarize" in " ".join(p.cmdline())
        ],
        "the diarization child",
    )
    assert task_dirs(upload_dir, task_id), "a running task has a temp dir"

    res = server.request("POST", f"/api/tasks/{task_id}/cancel", token=token)
    assert res.status == 200, res.body
    assert res.json() == {"task_id": task_id, "status": "cancelled"}
    for child in children:
        wait_for(lambda c=child: not c.is_running() or c.status() == "zombie", "child to end")
    assert task_dirs(upload_dir, task_id) == []
    final = status(server, token, task_id)
    assert final["status"] == "cancelled" and final["error"] == "cancelled by user"
    assert server.request("POST", f"/api/tasks/{task_id}/cancel", token=token).status == 409


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
def test_killed_child_fails_the_task_with_a_reason(start_server, mode, driver, wait_for):
    server = start_server("--mode", mode, "--driver", driver)
    token = server.new_user()
    task_id = create(
        server, token, segments=10, segments_per_second=500, diarize=True, diarize_seconds=60
    )
    child = wait_for(
        lambda: next(
            (
                p
                for p in psutil.Process(server.pid).children()
                if "synthetic_diarize" in " ".join(p.cmdline())
            ),
            None,
        ),
        "the diarization child",
    )
    os.kill(child.pid, signal.SIGKILL)
    final = wait_for(
        lambda: (b := status(server, token, task_id))["status"] in ("failed", "completed") and b,
        "the task to end",
    )
    assert final["status"] == "failed"
    assert "killed by signal 9" in final["error"]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
def test_bad_input_is_rejected_without_side_effects(start_server, mode, driver, upload_dir):
    server = start_server(
        "--mode",
        mode,
        "--driver",
        driver,
        "--upload-dir",
        str(upload_dir),
        "--max-upload-mib",
        "1",
    )
    token = server.new_user()
    for body in ({"name": {"$gt": ""}}, {"name": ["a"]}, {"name": ""}, ["x"]):
        res = server.request("POST", "/api/users", body)
        assert res.status == 400, (body, res.body)
        assert res.json()["error"] == "bad_request"
    for spec in (
        {"segments": {"$gt": 1}},
        {"segments": True},
        {"seed": "1"},
        {"segments_per_second": {"$ne": 0}},
        {"segments": 10, "$where": "1"},
    ):
        res = server.request("POST", "/api/tasks", {"synthetic": spec}, token=token)
        assert res.status == 400, (spec, res.body)
    res = server.request(
        "POST",
        "/api/tasks",
        data=b"{not json",
        token=token,
        headers={"Content-Type": "application/json"},
    )
    assert res.status == 400
    res = server.request("GET", "/api/tasks/" + "a" * 32 + "/segments?limit=0", token=token)
    assert res.status == 400

    # 2 MiB against a 1 MiB limit: 413, and nothing left on disk.
    boundary = "memdiagboundary"
    payload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + os.urandom(2 * 1024 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    res = server.request(
        "POST",
        "/api/tasks",
        data=payload,
        token=token,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert res.status == 413, res.body
    assert list(upload_dir.iterdir()) == []
    assert server.request("GET", "/api/tasks", token=token).json()["total_count"] == 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_restart_marks_interrupted_tasks_failed(start_server, database_name, driver, wait_for):
    first = start_server("--mode", "db-polling", "--driver", driver)
    token = first.new_user()
    task_id = create(first, token, segments=5000, segments_per_second=50)
    wait_for(lambda: status(first, token, task_id)["status"] == "transcribing", "running")
    first.proc.kill()  # a crash: no cleanup runs
    first.proc.wait()

    second = start_server("--mode", "memory-first", "--driver", driver, database=database_name)
    final = status(second, token, task_id)
    assert final["status"] == "failed"
    assert final["error"] == "server restarted"
    assert final["finished_at"] is not None


def test_metrics_and_debug_routes(start_server):
    server = start_server("--mode", "lean")
    text = server.request("GET", "/metrics").body.decode()
    for name in (
        "memdiag_db_commands_total",
        "memdiag_db_reply_bytes_total",
        "memdiag_status_polls_total",
        "memdiag_live_tasks",
        "memdiag_peak_rss_bytes",
        "process_resident_memory_bytes",
        "memdiag_event_loop_lag_seconds_bucket",
        "python_gc_collections_total",
    ):
        assert name in text, name
    assert (
        server.metric("memdiag_peak_rss_bytes")
        >= server.metric("process_resident_memory_bytes") * 0.5
    )
    assert server.request("GET", "/debug/memory").status == 404
    health = server.request("GET", "/healthz").json()
    assert health["status"] == "ok" and health["db"] == "ok" and health["mode"] == "lean"


def test_debug_routes_answer_only_the_admin_token(start_server):
    server = start_server("--mode", "memory-first", "--admin-token", "s3cret")
    user = server.new_user()
    for token in (None, user, "s3cre", "s3cret2"):
        assert server.request("GET", "/debug/memory", token=token).status == 404, token
    res = server.request("GET", "/debug/memory", token="s3cret")
    assert res.status == 200, res.body
    assert res.json()["peak_rss_bytes"] >= res.json()["rss_bytes"] > 0
