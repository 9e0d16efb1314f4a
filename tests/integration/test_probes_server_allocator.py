"""Allocator evidence on the real reference server: arena cap, jemalloc, malloc_trim."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from profiling.errors import HarnessError
from profiling.probes import pollbench
from profiling.probes.allocator import active_allocator, allocator_env, find_jemalloc, parse_choice
from profiling.probes.debugclient import DebugClient

TOKEN = "alloc-admin"


@pytest.fixture
def launch(mongo_uri: str, database_name: str) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(allocator: str) -> tuple[str, int]:
        cmd = [
            sys.executable, "-m", "reference_server", "--mode", "db-polling", "--port", "0",
            "--mongo-uri", mongo_uri, "--database", f"{database_name}_{len(procs)}",
            "--admin-token", TOKEN,
        ]  # fmt: skip
        env = allocator_env(parse_choice(allocator))
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(60)
        assert line and line[0].startswith("http://"), "server did not start"
        return line[0].strip(), proc.pid

    yield start
    for proc in procs:
        proc.terminate()
        proc.communicate(timeout=60)


def exercise(url: str) -> None:
    """Run a task and a few polls so motor's threads allocate."""
    token, task_id = pollbench.prepare_task(url, segments=60, segments_per_second=200)
    pollbench.poll(url, token, task_id, count=4, concurrency=2)


def test_arena_cap_and_malloc_trim(launch: Any) -> None:
    url, pid = launch("arenas=1")
    exercise(url)
    admin = DebugClient(url, TOKEN)
    capped = admin.memory()
    assert capped["allocator"] == "glibc" == active_allocator(pid)
    assert capped["malloc_arenas"] == 1
    assert capped["heap_in_use_bytes"] > 0
    assert capped["rss_minus_heap_bytes"] == capped["rss_bytes"] - capped["heap_in_use_bytes"]
    trim = admin.malloc_trim()
    assert trim["returned_bytes"] == trim["rss_before_bytes"] - trim["rss_after_bytes"]

    url2, _ = launch("glibc")
    exercise(url2)
    # glibc gives each new thread an arena of its own, up to 8 per core: motor's pool
    # and the task workers are several threads, so the uncapped server has several.
    assert DebugClient(url2, TOKEN).memory()["malloc_arenas"] > 1


def test_jemalloc_preloaded_server(launch: Any) -> None:
    try:
        find_jemalloc()
    except HarnessError as exc:  # CI installs libjemalloc2 (.ci/run); a dev box may not
        pytest.skip(str(exc))
    url, pid = launch("jemalloc")
    exercise(url)
    admin = DebugClient(url, TOKEN)
    figures = admin.memory()
    assert figures["allocator"] == "jemalloc" == active_allocator(pid)
    assert figures["malloc_arenas"] is None  # glibc's figures mean nothing under jemalloc
    with pytest.raises(HarnessError, match="409"):
        admin.malloc_trim()
