"""The sampler counts a real server process's open client connections from /proc.

A real aiohttp server (profiling.benchmarks.trivial_app) runs as a subprocess; this test
opens N keep-alive HTTP/1.1 connections to it, each with one request answered, and
checks that a sample taken while they are open counts exactly N, and that the count
falls back once they are closed. The test's own client sockets (in this process) and
the server's listening socket do not count.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from profiling.probes.connections import open_connections
from profiling.probes.sampler import Sampler, Target, load_timeline

N = 7


@pytest.fixture
def server() -> Iterator[tuple[int, str, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiling.benchmarks.trivial_app", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = urlsplit(proc.stdout.readline().strip())
        assert url.hostname and url.port, f"trivial_app printed {url!r}"
        yield proc.pid, url.hostname, url.port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def _count_until(pid: int, want: int, limit_s: float = 20.0) -> int | None:
    # The server sees a close a moment after the client's: wait for it, bounded.
    deadline = time.monotonic() + limit_s
    count = open_connections([pid])
    while count != want and time.monotonic() < deadline:
        time.sleep(0.05)
        count = open_connections([pid])
    return count


def test_sampler_counts_open_keep_alive_connections(
    server: tuple[int, str, int], tmp_path: Path
) -> None:
    pid, host, port = server
    assert open_connections([pid]) == 0
    clients = [http.client.HTTPConnection(host, port, timeout=10) for _ in range(N)]
    for client in clients:
        client.request("GET", "/")  # HTTP/1.1: the connection stays open after the reply
        reply = client.getresponse()
        assert reply.status == 200
        reply.read()
    csv = tmp_path / "rss.csv"
    with Sampler(
        [Target("server", pid, connections=True), Target("self", os.getpid())],
        csv,
        interval_s=0.05,
    ) as sampler:
        time.sleep(0.2)
    rows = load_timeline(csv)
    assert [r.connections for r in rows if r.label == "server"] == [N] * len(
        sampler.samples("server")
    )
    assert {r.connections for r in rows if r.label == "self"} == {None}
    for client in clients[:3]:
        client.close()
    assert _count_until(pid, N - 3) == N - 3
    for client in clients[3:]:
        client.close()
    assert _count_until(pid, 0) == 0
