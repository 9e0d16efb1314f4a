"""Two server processes on one port: memory-first's "zero DB reads" holds only in the
process that runs the task; polls that land elsewhere read the DB and see stale state."""

from __future__ import annotations

import socket
import time

import psutil
import pytest

from profiling.probes import procmem
from profiling.probes.dbevidence import parse_metrics
from profiling.probes.metricsum import metrics_text, published_urls, scrape_every


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


def test_metrics_of_every_process_sum_to_the_polls_served(start_server, tmp_path):
    """With --metrics-dir each process publishes an address of its own: the shared port
    reaches one process at random, but the summed scrapes count every poll served."""
    folder = tmp_path / "metrics"
    server = start_server(
        "--mode", "lean", "--processes", "2", "--port", str(free_port()),
        "--metrics-dir", str(folder),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(published_urls(folder)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [server.pid, *procmem.descendant_pids(server.pid)]
    assert sorted(published_urls(folder)) == sorted(pids) and len(pids) == 2
    token = server.new_user()
    task_id = server.request(
        "POST", "/api/tasks", {"synthetic": {"segments": 5}}, token=token
    ).json()["task_id"]
    polls = 40
    for _ in range(polls):  # a connection each: the kernel spreads them over the processes
        assert server.request("GET", f"/api/tasks/{task_id}", token=token).status == 200
    text, answered = scrape_every(folder, pids)
    assert answered == 2 and text is not None
    assert parse_metrics(text).status_polls == polls
    each = [
        parse_metrics(metrics_text(url) or "").status_polls
        for url in published_urls(folder).values()
    ]
    assert sum(each) == polls and max(each) < polls  # each process served some of them
