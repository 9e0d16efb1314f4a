"""The database dies under load: SIGKILLed while tasks run and pollers poll, then restarted
on the same port and data (or never in time).

One DB serves a reference server per mode and driver at once, so a single outage is
seen by all six designs. What must hold: the servers stay up; /healthz says degraded
with a reason, then ok; every answer during the outage is a 200 (from memory) or a 503
with the JSON error body and Retry-After, never a 500 or a hang; afterwards every task
is completed with exactly its segments, none lost, none duplicated. When the DB is
away longer than --db-retry-s the tasks fail with that reason, and the DB learns it once
it is back: nothing stays `transcribing`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pymongo
import pytest
from faultkit import Pollers, RestartableDB, bad_replies, call, wait_until

from profiling.run.embedded_db import ENGINES

MODES = ["db-polling", "memory-first", "lean"]
DRIVERS = ["motor", "pymongo-async"]
SEGMENTS = 150
RATE = 30.0  # segments/s: each task runs 5 s
TASKS = 2
CHUNK = 50  # the server's default chunk_size (lean)


def _start_all(start_server: Any, uri: str, configs: list[tuple[str, str]], *extra: str) -> Any:
    def one(config: tuple[str, str]) -> Any:
        mode, driver = config
        database = f"f_{mode.replace('-', '_')}_{driver.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        return start_server("--mode", mode, "--driver", driver, *extra, uri=uri, database=database)

    return _at_once({config: partial(one, config) for config in configs})


def _create(server: Any, token: str, **spec: Any) -> str:
    res = call(server.url, "POST", "/api/tasks", {"synthetic": spec}, token=token)
    assert res.status == 202, res.body
    return str(res.json()["task_id"])


def _status(server: Any, token: str, task_id: str) -> dict[str, Any] | None:
    res = call(server.url, "GET", f"/api/tasks/{task_id}", token=token)
    return dict(res.json()) if res.status == 200 else None


def _stored_segment_ids(db: Any, mode: str, task_id: str) -> list[int]:
    if mode == "lean":
        chunks = [db.segment_chunks.find_one({"_id": f"{task_id}:{i}"}) for i in range(10)]
        return [s["id"] for c in chunks if c for s in c["segments"]]
    doc = db.tasks.find_one({"_id": task_id})
    return [s["id"] for s in doc["segments"]]


def _at_once(calls: dict[Any, Callable[[], Any]]) -> dict[Any, Any]:
    """Each call in a thread of its own, all at once: key -> what it returned."""
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {key: pool.submit(fn) for key, fn in calls.items()}
        return {key: f.result() for key, f in futures.items()}


def _assert_503(reply: Any, what: str) -> None:
    assert reply.status == 503, (what, reply.status, reply.body, reply.error)
    body = reply.json()
    assert body["error"] == "db_unavailable" and body["detail"], (what, body)
    assert reply.retry_after, (what, "no Retry-After")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_db_killed_and_restarted_mid_run_every_mode_and_driver(tmp_path, start_server, engine):
    db = RestartableDB(tmp_path / "db", engine=engine).start()
    try:
        configs = [(m, d) for m in MODES for d in DRIVERS]
        servers = _start_all(start_server, db.uri, configs)
        tokens = {c: s.new_user() for c, s in servers.items()}
        tasks = {
            c: [
                _create(
                    s,
                    tokens[c],
                    segments=SEGMENTS,
                    segments_per_second=RATE,
                    words_per_segment=4,
                    seed=i,
                )
                for i in range(TASKS)
            ]
            for c, s in servers.items()
        }
        pollers = {
            c: Pollers(s.url, tokens[c], [f"/api/tasks/{t}" for t in tasks[c]] + ["/api/tasks"])
            for c, s in servers.items()
        }
        for p in pollers.values():
            p.__enter__()
        try:
            for c, s in servers.items():
                for t in tasks[c]:
                    wait_until(
                        lambda s=s, c=c, t=t: (
                            (b := _status(s, tokens[c], t)) and b["segment_count"] > 0
                        ),
                        f"{c}: task {t} running",
                    )
            outage_start = {c: len(p.snapshot()) for c, p in pollers.items()}
            db.kill()

            # Each of these calls waits out the driver's --db-timeout-s (3 s) before its
            # 503: the 18 of them are made at once, so the outage stays short of the
            # workers' 60 s retry budget however busy the machine is.
            replies = _at_once(
                {
                    (c, what): partial(call, s.url, method, path, body, token=token)
                    for c, s in servers.items()
                    for what, method, path, body, token in (
                        ("health", "GET", "/healthz", None, None),
                        ("create", "POST", "/api/tasks", {"synthetic": {}}, tokens[c]),
                        ("user", "POST", "/api/users", {"name": "x"}, None),
                    )
                }
            )
            for c in servers:
                health = replies[c, "health"]
                assert health.status == 503, (c, health.body)
                assert health.json()["status"] == "degraded" and health.json()["reason"], c
                assert health.retry_after, c
                _assert_503(replies[c, "create"], f"{c}: create during the outage")
                _assert_503(replies[c, "user"], f"{c}: new user")
            # The outage lasts until every worker has hit it: checkpoints block in their
            # retries, and memory-first's tasks finish and block in their final write.
            for c, s in servers.items():
                wait_until(
                    lambda s=s: s.metric("memdiag_worker_db_retries_total") > 0,
                    f"{c}: the worker retrying its DB writes",
                )
                if c[0] == "memory-first":
                    for t in tasks[c]:
                        wait_until(
                            lambda s=s, c=c, t=t: (
                                (b := _status(s, tokens[c], t)) and b["segment_count"] == SEGMENTS
                            ),
                            f"{c}: task {t} transcribed in memory",
                        )
            outage_replies = {c: p.snapshot()[outage_start[c] :] for c, p in pollers.items()}

            db.start()
            for c, s in servers.items():
                wait_until(
                    lambda s=s: call(s.url, "GET", "/healthz").status == 200,
                    f"{c}: /healthz ok again",
                )
                for t in tasks[c]:
                    wait_until(
                        lambda s=s, c=c, t=t: (
                            (b := _status(s, tokens[c], t))
                            and b["status"] in ("completed", "failed", "cancelled")
                        ),
                        f"{c}: task {t} to end",
                        last=lambda s=s, c=c, t=t: (
                            call(s.url, "GET", f"/api/tasks/{t}", token=tokens[c]).body[:300],
                            s.stderr_text()[-3000:],
                        ),
                    )
        finally:
            for p in pollers.values():
                p.__exit__()

        with pymongo.MongoClient(db.uri) as client:
            for c, s in servers.items():
                assert s.proc.poll() is None, f"{c}: the server died"
                assert bad_replies(pollers[c].snapshot()) == [], c
                assert any(r.status == 503 for _, r in outage_replies[c]), (
                    f"{c}: no poll saw the outage"
                )
                listing = call(s.url, "GET", "/api/tasks", token=tokens[c]).json()
                assert sorted(e["task_id"] for e in listing["all_tasks"]) == sorted(tasks[c]), c
                assert listing["total_count"] == TASKS, c
                for t in tasks[c]:
                    final = _status(s, tokens[c], t)
                    assert final is not None, (c, t)
                    assert final["status"] == "completed", (c, final.get("error"))
                    assert final["segment_count"] == SEGMENTS and final["progress"] == 100, c
                    ids = _stored_segment_ids(client[s.database], c[0], t)
                    assert ids == list(range(SEGMENTS)), (c, t, len(ids))
                assert client[s.database].tasks.count_documents({}) == TASKS, c
    finally:
        db.stop()


@pytest.mark.slow
def test_db_away_longer_than_the_retry_budget_fails_tasks_with_the_reason(tmp_path, start_server):
    db = RestartableDB(tmp_path / "db").start()
    try:
        configs = [("db-polling", "pymongo-async"), ("memory-first", "motor"), ("lean", "motor")]
        servers = _start_all(start_server, db.uri, configs, "--db-retry-s", "2")
        tokens = {c: s.new_user() for c, s in servers.items()}
        tasks = {
            c: _create(s, tokens[c], segments=SEGMENTS, segments_per_second=RATE)
            for c, s in servers.items()
        }
        for c, s in servers.items():
            wait_until(
                lambda s=s, c=c: (b := _status(s, tokens[c], tasks[c])) and b["segment_count"],
                f"{c}: task running",
            )
        db.kill()
        # /metrics needs no DB: the worker gave up and ended the task.
        for c, s in servers.items():
            wait_until(
                lambda s=s: s.metric("memdiag_tasks_finished_total", status="failed") == 1,
                f"{c}: the task failed while the DB was away",
            )
        # A status read may wait out the 3 s server selection: the three at once.
        replies = _at_once(
            {
                c: partial(call, s.url, "GET", f"/api/tasks/{tasks[c]}", token=tokens[c])
                for c, s in servers.items()
            }
        )
        for c, reply in replies.items():
            assert reply.status in (200, 503), (c, reply.status, reply.body)
            if reply.status == 503:
                _assert_503(reply, c)
        db.start()
        for c, s in servers.items():
            final = wait_until(
                lambda s=s, c=c: (
                    (b := _status(s, tokens[c], tasks[c])) and b["status"] == "failed" and b
                ),
                f"{c}: the failure saved once the DB is back",
            )
            assert "database unreachable for more than 2 s" in final["error"], (c, final)
            assert s.proc.poll() is None, c
    finally:
        db.stop()
