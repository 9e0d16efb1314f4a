"""Security on real processes and the real DB: another user's task is invisible on every
route in every mode (live in memory, finished in the DB, and through a second server
process); /debug exists only for the admin token; no token reaches a log, a run folder,
a report or /metrics."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

MODES = ["db-polling", "memory-first", "lean"]
DEBUG_ROUTES = [
    ("POST", "/debug/tracemalloc/start"),
    ("POST", "/debug/tracemalloc/stop"),
    ("POST", "/debug/tracemalloc/snapshot"),
    ("POST", "/debug/tracemalloc/reset-peak"),
    ("GET", "/debug/memory"),
    ("POST", "/debug/malloc-trim"),
]
FINAL = ("completed", "failed", "cancelled")


def create(server: Any, token: str, **spec: Any) -> str:
    res = server.request("POST", "/api/tasks", {"synthetic": spec}, token=token)
    assert res.status == 202, res.body
    return str(res.json()["task_id"])


def assert_invisible(server: Any, intruder: str, task_id: str) -> None:
    """Every route answers bob exactly what it answers for a task that does not exist."""
    missing = "0" * 32
    for method, template in (
        ("GET", "/api/tasks/{}"),
        ("GET", "/api/tasks/{}/segments"),
        ("GET", "/api/tasks/{}/segments?offset=0&limit=5"),
        ("POST", "/api/tasks/{}/cancel"),
        ("DELETE", "/api/tasks/{}"),
    ):
        res = server.request(method, template.format(task_id), token=intruder)
        ref = server.request(method, template.format(missing), token=intruder)
        assert res.status == 404, (method, template, res.status, res.body)
        # No oracle: the answer is the same as for an id nobody has.
        assert res.json() == ref.json(), (method, template)
    listing = server.request("GET", "/api/tasks", token=intruder)
    assert listing.status == 200
    assert listing.json()["total_count"] == 0 and task_id.encode() not in listing.body


@pytest.mark.parametrize("mode", MODES)
def test_another_users_task_is_invisible_live_and_finished(start_server, mode, wait_for):
    server = start_server("--mode", mode)
    alice, bob = server.new_user("alice"), server.new_user("bob")
    task_id = create(server, alice, segments=400, segments_per_second=20, words_per_segment=3)

    def live() -> bool:
        body = server.request("GET", f"/api/tasks/{task_id}", token=alice).json()
        return body["status"] == "transcribing" and body["segment_count"] > 0

    wait_for(live, "the task to run")  # memory-first and lean now answer from memory
    assert_invisible(server, bob, task_id)
    assert server.request("GET", f"/api/tasks/{task_id}", token=alice).json()["status"] == (
        "transcribing"
    ), "bob's cancel must not have touched alice's task"

    res = server.request("POST", f"/api/tasks/{task_id}/cancel", token=alice)
    assert res.status == 200, res.body
    assert_invisible(server, bob, task_id)  # ended: every answer comes from the DB now
    assert server.request("GET", f"/api/tasks/{task_id}", token=alice).status == 200
    assert server.request("DELETE", f"/api/tasks/{task_id}", token=alice).status == 204


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", ["memory-first", "lean"])
def test_another_users_task_is_invisible_from_a_second_process(start_server, mode, wait_for):
    server = start_server("--mode", mode, "--processes", "2", "--port", str(free_port()))
    wait_for(lambda: len(psutil.Process(server.pid).children()) >= 1, "the second process")
    alice, bob = server.new_user("alice"), server.new_user("bob")
    task_id = create(server, alice, segments=2000, segments_per_second=50, words_per_segment=3)
    # Connections spread over both processes: the one running the task (memory) and
    # the other one (DB). Twenty rounds reach both with near certainty, and each must 404.
    for _ in range(20):
        assert_invisible(server, bob, task_id)
    server.request("POST", f"/api/tasks/{task_id}/cancel", token=alice)


def test_debug_is_absent_without_admin_token_and_hidden_from_other_tokens(start_server):
    plain = start_server("--mode", "lean")
    user = plain.new_user()
    for method, path in DEBUG_ROUTES:
        for token in (None, user, "anything"):
            res = plain.request(method, path, token=token, data=b"{}" if method == "POST" else None)
            assert res.status == 404, (method, path, token)
            assert res.json()["error"] == "not_found"
    assert b"/debug" not in plain.request("GET", "/openapi.json", token=user).body

    admin = "adm1n-" + os.urandom(8).hex()
    guarded = start_server("--mode", "lean", "--admin-token", admin)
    user = guarded.new_user()
    for method, path in DEBUG_ROUTES:
        for token in (None, user, admin[:-1], admin + "x", admin.upper()):
            for verb in (method, "PUT"):  # a wrong method is 404 too: nothing to discover
                res = guarded.request(verb, path, token=token, data=b"{}")
                assert res.status == 404, (verb, path, token)
    headers = {"Authorization": f"bearer {admin}"}  # exact "Bearer <token>" only
    assert guarded.request("GET", "/debug/memory", headers=headers).status == 404
    assert guarded.request("GET", "/debug/memory", token=admin).status == 200
    assert guarded.request("PUT", "/debug/memory", token=admin).status == 405
    assert b"/debug" not in guarded.request("GET", "/openapi.json", token=user).body
    assert b"/debug/memory" in guarded.request("GET", "/openapi.json", token=admin).body
    # The server itself never takes the token from argv when memdiag starts it (below);
    # given on the command line, it is still not in what /metrics or /healthz say.
    for path in ("/metrics", "/healthz", "/openapi.json"):
        assert admin.encode() not in guarded.request("GET", path, token=admin).body, path
    assert admin not in guarded.stderr_text() and user not in guarded.stderr_text()


# A user token is secrets.token_urlsafe(32): 43 URL-safe characters, alone.
USER_TOKEN = re.compile(rb"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


@pytest.mark.slow
def test_no_token_in_a_measured_run_folder(tmp_path: Path, mongo_uri: str):
    """A short real `memdiag measure` with the tracemalloc profile (which drives /debug
    with the admin token): neither that token nor any user token is in any file it wrote,
    server logs and /metrics scrapes included."""
    admin = "memdiag-admin-" + os.urandom(12).hex()
    out = tmp_path / "run"
    env = dict(os.environ, MEMDIAG_ADMIN_TOKEN=admin)
    argv = [sys.executable, "-m", "profiling", "measure", "--mode", "lean"]
    argv += ["--profile", "tracemalloc", "--duration", "3", "--warmup", "1", "--cooldown", "0"]
    argv += ["--rate", "5", "-O", "segments=80", "-O", "initial_segments=60"]
    argv += ["--no-html", "-o", str(out)]
    argv += ["--mongo-uri", mongo_uri]
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=280, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"server.log", "processes.json", "summary.json", "report.md"} <= names, names
    for name in ("processes.json", "debug-memory.json"):  # JSON the run writes is versioned
        written = [p for p in files if p.name == name]
        assert written, name
        assert all(json.loads(p.read_text())["schema_version"] == 1 for p in written), written
    assert any(p.suffix == ".prom" for p in files), "the /metrics scrapes are in the folder"
    assert any(p.suffix == ".tracemalloc" for p in files), "the admin routes were used"
    for path in files:
        data = path.read_bytes()
        assert admin.encode() not in data, f"admin token in {path}"
        assert b"Bearer" not in data and b"Authorization" not in data, path
        assert b"--admin-token" not in data, f"a token on a command line, in {path}"
        if path.suffix in (".tracemalloc", ".bin"):
            continue  # binary snapshots: only the exact tokens above are meaningful
        found = USER_TOKEN.findall(data)
        assert not found, f"a user token shape in {path}: {found[:3]}"
    for stream in (proc.stdout, proc.stderr):
        assert admin.encode() not in stream
