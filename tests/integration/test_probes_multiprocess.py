"""A multi-process reference server: the sampler sums the family, memray follows the fork."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from profiling.probes import pollbench, procmem
from profiling.probes.memray_capture import (
    MemrayOptions,
    capture_files,
    memray_command,
    memray_env,
    render_artifacts,
    summarize_capture,
)
from profiling.probes.sampler import Sampler, Target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_follow_fork_and_family_sampling(
    mongo_uri: str, database_name: str, tmp_path: Path
) -> None:
    capture = tmp_path / "server.bin"
    options = MemrayOptions(follow_fork=True)
    args = [
        "-m", "reference_server", "--mode", "lean", "--port", str(free_port()),
        "--processes", "2", "--mongo-uri", mongo_uri, "--database", database_name,
    ]  # fmt: skip
    proc = subprocess.Popen(
        memray_command(args, capture, options),
        env=memray_env(options),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(120)
        assert line and line[0].startswith("http://"), "server did not start"
        url = line[0].strip()
        # The second process joins the port half a second after the first prints its URL.
        deadline = time.monotonic() + 30
        while not procmem.descendant_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with Sampler([Target("server", proc.pid, children=True)], tmp_path / "rss.csv") as s:
            token, task_id = pollbench.prepare_task(url, segments=30, segments_per_second=100)
            result = pollbench.poll(url, token, task_id, count=40, concurrency=4)
        assert result.errors == 0
        samples = s.samples("server")
        assert max(r.nprocs for r in samples) == 2
        alone = procmem.read_mem(proc.pid)
        family = procmem.read_mem(proc.pid, children=True)
        assert family.rss_bytes > alone.rss_bytes
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    files = capture_files(capture)
    assert files[0] == capture and len(files) == 2, files
    child = files[1]
    assert summarize_capture(child).peak_memory_bytes > 0
    artifacts = render_artifacts(child, tmp_path / "child", stem="child")
    assert artifacts.peak_html.is_file() and artifacts.stats_json is not None
