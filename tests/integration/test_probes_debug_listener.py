"""The admin listener thread answers snapshots while the event loop is saturated.

The server is a real process (probe_apps/busy_app.py) under tracemalloc with 25 frames,
whose loop a storm of long json.dumps calls keeps far behind; the snapshot goes to the
listener thread (reference_server/debugthread.py), and the file it writes loads.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import tracemalloc
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from profiling.probes.debugclient import DebugClient

APP = Path(__file__).parent / "probe_apps" / "busy_app.py"
TOKEN = "t0ken"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_snapshot_through_the_listener_while_the_loop_is_saturated(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONTRACEMALLOC": "25"}
    proc = subprocess.Popen(
        [sys.executable, str(APP), TOKEN, str(port)], stdout=subprocess.PIPE, text=True, env=env
    )
    stop = threading.Event()
    with proc:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        served = []

        def storm() -> None:
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(url + "encode", timeout=120) as resp:
                        served.append(len(resp.read()))
                except OSError:
                    continue

        threads = [threading.Thread(target=storm, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            while not served:  # the loop is encoding: the storm has begun
                stop.wait(0.2)
            client = DebugClient(f"http://127.0.0.1:{port}", TOKEN, timeout_s=120.0)
            reply = client.snapshot(tmp_path / "busy.tracemalloc")
            memory = client.memory()
        finally:
            stop.set()
            proc.kill()  # SIGTERM would wait its turn on the saturated loop
    assert reply["frames"] == 25 and reply["traces"] > 0
    loaded = tracemalloc.Snapshot.load(str(tmp_path / "busy.tracemalloc"))
    assert len(loaded.traces) == reply["traces"]
    assert memory["tracemalloc"]["tracing"] is True


def test_the_listener_needs_the_token(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(APP), TOKEN, str(port)], stdout=subprocess.PIPE)
    with proc:
        assert proc.stdout is not None
        proc.stdout.readline()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/debug/memory")
        req.add_header("Authorization", "Bearer wrong")
        try:
            urllib.request.urlopen(req, timeout=30)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
        proc.terminate()
    assert status == 404
