"""memray and tracemalloc on the real reference server (db-polling, embedded DB) under the
same short status-poll workload: memray yields stats JSON and the three flamegraphs, and
the heap peak it finds for the poll phase is within 10 % of tracemalloc's.

The phase is compared, not the whole run: `memray run` imports modules before tracking
starts (the server then reuses them), so start-up differs by megabytes between the two
tools; the poll phase is the same work in both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from profiling.probes import pollbench
from profiling.probes.debugclient import DebugClient
from profiling.probes.memray_capture import (
    MemrayOptions,
    heap_window,
    memray_command,
    memray_env,
    render_artifacts,
    summarize_capture,
)

TOKEN = "probe-admin"
SEGMENTS = 150
POLLS = 4


def server_args(mongo_uri: str, database: str) -> list[str]:
    return [
        "-m", "reference_server", "--mode", "db-polling", "--port", "0",
        "--mongo-uri", mongo_uri, "--database", database, "--admin-token", TOKEN,
    ]  # fmt: skip


class Server:
    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(120)
        if not line or not line[0].startswith("http://"):
            self.proc.kill()
            _, err = self.proc.communicate()
            pytest.fail(f"server did not start: {' '.join(cmd)}\n{err[-2000:]}")
        self.url = line[0].strip()
        # Drain stderr so a chatty server never blocks on a full pipe.
        self._drain = threading.Thread(target=self.proc.communicate, daemon=True)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self._drain.start()
        self._drain.join(60)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def poll_phase(url: str) -> tuple[float, float]:
    """Create and finish a task, warm the path with one poll, then the measured phase."""
    token, task_id = pollbench.prepare_task(
        url, segments=SEGMENTS, words_per_segment=20, segments_per_second=1000
    )
    pollbench.poll(url, token, task_id, count=1)
    time.sleep(0.3)
    start = time.time()
    time.sleep(0.1)
    result = pollbench.poll(url, token, task_id, count=POLLS)
    assert result.polls == POLLS and result.errors == 0
    time.sleep(0.1)
    return start, time.time()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_memray_artifacts_and_poll_peak_match_tracemalloc(
    mongo_uri: str, database_name: str, tmp_path: Path
) -> None:
    capture = tmp_path / "server.bin"
    options = MemrayOptions(trace_python_allocators=True)
    memray_run = Server(
        memray_command(server_args(mongo_uri, database_name + "m"), capture, options),
        memray_env(options),
    )
    try:
        start, end = poll_phase(memray_run.url)
    finally:
        memray_run.stop()

    env = {**os.environ, "PYTHONTRACEMALLOC": "1"}
    traced = Server([sys.executable, *server_args(mongo_uri, database_name + "t")], env)
    try:
        admin = DebugClient(traced.url, TOKEN)
        token, task_id = pollbench.prepare_task(
            traced.url, segments=SEGMENTS, words_per_segment=20, segments_per_second=1000
        )
        pollbench.poll(traced.url, token, task_id, count=1)
        time.sleep(0.3)
        base = admin.reset_peak()["traced_current_bytes"]
        result = pollbench.poll(traced.url, token, task_id, count=POLLS)
        assert result.errors == 0
        tm_growth = admin.memory()["tracemalloc"]["peak_bytes"] - base
    finally:
        traced.stop()

    window = heap_window(capture, start, end)
    assert tm_growth > 1_000_000  # the polls must do real work for the comparison to mean much
    assert abs(window.growth_to_peak_bytes - tm_growth) <= 0.10 * tm_growth, (
        window,
        tm_growth,
    )

    artifacts = render_artifacts(capture, tmp_path / "memray")
    assert artifacts.stats_json is not None and artifacts.temporal_html is not None
    stats = json.loads(artifacts.stats_json.read_text())
    assert stats["total_num_allocations"] > 0
    for html in (artifacts.peak_html, artifacts.leaks_html, artifacts.temporal_html):
        assert html.stat().st_size > 10_000
    summary = summarize_capture(capture)
    assert summary.peak_memory_bytes >= window.peak_heap_bytes
    assert summary.top_sites
