"""The incident itself: what a status poll costs in each design, read from /metrics."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reference_server.pipeline.engines.synthetic import SyntheticParams, generate

MODES = ["db-polling", "memory-first", "lean"]
DRIVERS = ["motor", "pymongo-async"]


def task_reads(server: Any) -> float:
    return server.metric(
        "memdiag_db_commands_total", command="find", collection="tasks"
    ) + server.metric("memdiag_db_commands_total", command="getMore", collection="tasks")


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
def test_status_polls_of_a_running_3000_segment_task(start_server, mode, driver, wait_for):
    server = start_server("--mode", mode, "--driver", driver)
    token = server.new_user()
    # 3,000 segments at 100/s: still running for the whole test; cancelled at the end.
    res = server.request(
        "POST",
        "/api/tasks",
        {"synthetic": {"segments": 3000, "segments_per_second": 100}},
        token=token,
    )
    assert res.status == 202, res.body
    task_id = res.json()["task_id"]

    def running_with_segments() -> bool:
        body = server.request("GET", f"/api/tasks/{task_id}", token=token).json()
        return body["status"] == "transcribing" and body["segment_count"] > 0

    wait_for(running_with_segments, "the task to be transcribing")
    reads_before = task_reads(server)
    polls_before = server.metric("memdiag_status_polls_total")
    bodies = []
    for _ in range(10):
        res = server.request("GET", f"/api/tasks/{task_id}", token=token)
        assert res.status == 200
        bodies.append(res)
    reads = task_reads(server) - reads_before
    assert server.metric("memdiag_status_polls_total") - polls_before == 10

    last = bodies[-1].json()
    assert last["status"] == "transcribing", "the task must still run during the polls"
    if mode == "db-polling":
        assert reads >= 10
    else:
        assert reads == 0, f"{mode} read the task {reads} times from the DB for 10 polls"
    for res in bodies:
        view = res.json()
        if mode == "lean":
            assert len(res.body) < 4096
            assert "segments" not in view
        else:
            assert len(view["segments"]) == view["segment_count"]
            assert view["segment_count"] > 0
    assert server.request("POST", f"/api/tasks/{task_id}/cancel", token=token).status == 200


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
def test_completed_segments_match_the_engine_in_every_mode(start_server, mode, driver, wait_for):
    server = start_server("--mode", mode, "--driver", driver)
    token = server.new_user()
    spec = {"segments": 230, "segments_per_second": 400, "words_per_segment": 9, "seed": 7}
    task_id = server.request("POST", "/api/tasks", {"synthetic": spec}, token=token).json()[
        "task_id"
    ]
    progress: list[float] = []

    def completed() -> dict[str, Any] | None:
        body = server.request("GET", f"/api/tasks/{task_id}", token=token).json()
        progress.append(body["progress"])
        return body if body["status"] == "completed" else None

    final = wait_for(completed, "the task to complete")
    assert progress == sorted(progress), "progress went backwards"
    assert final["progress"] == 100.0
    assert final["segment_count"] == 230
    expected = generate(SyntheticParams(**{k: v for k, v in spec.items()}))
    if mode == "lean":
        assert "segments" not in final
        pages = []
        for offset in range(0, 230, 100):
            res = server.request(
                "GET", f"/api/tasks/{task_id}/segments?offset={offset}&limit=100", token=token
            )
            body = res.json()
            assert body["total"] == 230 and body["offset"] == offset
            pages.extend(body["segments"])
        assert pages == expected
    else:
        assert final["segments"] == expected
    # A page from the middle agrees in every mode (chunk boundaries at 50 in lean).
    page = server.request(
        "GET", f"/api/tasks/{task_id}/segments?offset=45&limit=10", token=token
    ).json()
    assert page["segments"] == expected[45:55]


def in_flight(server: Any) -> dict[str, float]:
    """The in-flight histogram's count, its le=1 bucket, and the gauge, in one scrape each."""
    return {
        "count": server.metric("memdiag_status_in_flight_count"),
        "le1": server.metric("memdiag_status_in_flight_bucket", le="1.0"),
        "now": server.metric("memdiag_status_in_flight_now"),
        "polls": server.metric("memdiag_status_polls_total"),
    }


def test_status_requests_in_flight_are_observed_for_overlapping_db_polls(start_server, wait_for):
    server = start_server("--mode", "db-polling")
    token = server.new_user()
    spec = {"synthetic": {"segments": 3000, "segments_per_second": 100}}
    task_id = server.request("POST", "/api/tasks", spec, token=token).json()["task_id"]

    # Each db-polling poll reads the whole task from the DB; with a few hundred segments
    # that read is long enough that polls released together are all in flight at once.
    def large_enough() -> bool:
        body = server.request("GET", f"/api/tasks/{task_id}", token=token).json()
        return body["status"] == "transcribing" and body["segment_count"] >= 200

    wait_for(large_enough, "the task to reach 200 segments")
    before = in_flight(server)
    polls = 24
    barrier = threading.Barrier(polls)

    def poll(_: int) -> int:
        barrier.wait()
        return server.request("GET", f"/api/tasks/{task_id}", token=token).status

    with ThreadPoolExecutor(polls) as pool:
        statuses = list(pool.map(poll, range(polls)))
    after = in_flight(server)

    assert statuses == [200] * polls
    assert after["count"] - before["count"] == polls
    assert after["polls"] - before["polls"] == polls
    # Fewer than all observations in the le=1 bucket: some poll saw others in flight.
    assert after["le1"] - before["le1"] < polls
    assert after["now"] == 0
    assert server.request("POST", f"/api/tasks/{task_id}/cancel", token=token).status == 200


def poll_figures(server: Any) -> dict[str, float]:
    """Everything the reports read off the status path, from one /metrics scrape each."""
    return {
        "polls": server.metric("memdiag_status_polls_total"),
        "bytes": server.metric("memdiag_status_response_bytes_total"),
        "requests": server.metric("memdiag_status_in_flight_count"),
        "in_flight_sum": server.metric("memdiag_status_in_flight_sum"),
        "alone": server.metric("memdiag_status_in_flight_bucket", le="1.0"),
        "status_reads": server.metric("memdiag_db_commands_total", collection="tasks", op="status"),
        "status_reply_bytes": server.metric(
            "memdiag_db_reply_bytes_total", collection="tasks", op="status"
        ),
        "auth_reads": server.metric("memdiag_db_commands_total", collection="tokens", op="auth"),
    }


@pytest.mark.parametrize("mode", MODES)
def test_status_figures_stay_exact(start_server, mode, wait_for):
    """Polls served, status bytes, DB commands and requests in flight count every request."""
    server = start_server("--mode", mode)
    alice, bob = server.new_user("alice"), server.new_user("bob")
    spec = {"synthetic": {"segments": 3000, "segments_per_second": 20}}
    task_id = server.request("POST", "/api/tasks", spec, token=alice).json()["task_id"]
    wait_for(
        lambda: (
            server.request("GET", f"/api/tasks/{task_id}", token=alice).json()["status"]
            == "transcribing"
        ),
        "the task to be transcribing",
    )
    before = poll_figures(server)
    served = [server.request("GET", f"/api/tasks/{task_id}", token=alice) for _ in range(7)]
    refused = [
        server.request("GET", f"/api/tasks/{task_id}", token=bob),  # first use, not his: 404
        server.request("GET", f"/api/tasks/{task_id}", token=bob),  # cached token now: 404
        server.request("GET", f"/api/tasks/{task_id}", token="wrong"),  # 401, asks the DB
        server.request("GET", f"/api/tasks/{task_id}", token="wrong"),  # never cached: again
        server.request("GET", f"/api/tasks/{task_id}"),  # no header: 401 without the DB
        server.request("GET", "/api/tasks/" + "z" * 32, token=alice),  # malformed id: 404
    ]
    after = poll_figures(server)
    delta = {name: after[name] - before[name] for name in before}

    assert [res.status for res in served] == [200] * 7
    assert [res.status for res in refused] == [404, 404, 401, 401, 401, 404]
    assert delta["polls"] == 7, "only answered polls count as served"
    assert delta["bytes"] == sum(len(res.body) for res in served)
    assert delta["requests"] == 13, "every status request is observed in flight"
    assert delta["alone"] == delta["in_flight_sum"] == 13, "one at a time, each saw itself"
    assert delta["auth_reads"] == 3, "bob's first request and both unknown tokens"
    # Task reads of the status path: db-polling reads for every poll of an owned or
    # foreign task; the others answer the live task from memory.
    assert delta["status_reads"] == (9 if mode == "db-polling" else 0)
    assert (delta["status_reply_bytes"] > 0) == (mode == "db-polling")
    assert server.metric("memdiag_status_in_flight_now") == 0
    assert server.request("POST", f"/api/tasks/{task_id}/cancel", token=alice).status == 200
