"""Who holds it, on a real aiohttp server: the planted holder is named, and so is aiohttp's.

The server is a real process (probe_apps/holders_app.py) that knows nothing of memdiag;
it runs with the in-process agent's environment, and the agent answers the runner's file
requests (`profiling.probes.holdersclient`) from inside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from profiling.probes.agentlog import agent_env
from profiling.probes.holdersclient import request_holders
from profiling.run import whoholds

APP = Path(__file__).parent / "probe_apps" / "holders_app.py"
HANDLER_START = "local `resp` of coroutine aiohttp.web_protocol.RequestHandler.start"


@dataclass
class Server:
    url: str
    pid: int
    agent_dir: Path

    def holders(self, **args: int | float) -> dict[str, Any]:
        reply = request_holders(self.agent_dir, [self.pid], args or None, timeout_s=120.0)
        assert not reply.missing, "the app did not answer the holders request"
        return reply.results[self.pid]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    agent_dir = tmp_path / "agent"
    proc = subprocess.Popen(
        [sys.executable, str(APP)],
        stdout=subprocess.PIPE,
        text=True,
        env=agent_env(os.environ, agent_dir, 0.5),
    )
    with proc:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield Server(url, proc.pid, agent_dir)
        proc.terminate()


def test_planted_holder_is_found_by_name(server: Server) -> None:
    for _ in range(3):  # urllib closes each connection: only LAST_BODY keeps a body
        with urllib.request.urlopen(server.url + "planted", timeout=10) as resp:
            assert len(resp.read()) == 512 * 1024
    result = server.holders()
    planted = [g for g in result["groups"] if "LAST_BODY" in g["root"]]
    assert len(planted) == 1, result["groups"]
    group = planted[0]
    assert group["type"] == "bytes"
    assert group["count"] == 1
    assert group["total_bytes"] >= 512 * 1024
    assert group["chain"][1] == "key 3 of dict"  # the third request's count
    assert group["root"] == "module-level `LAST_BODY` in `__main__ (holders_app.py)`"
    assert group["chain"][-1] == group["root"]
    assert not result["truncated"]


async def _idle_clients(url: str, n: int) -> list[aiohttp.ClientSession]:
    sessions = []
    for _ in range(n):
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
        async with session.get(url + "body") as resp:
            assert len(await resp.read()) == 400_000
        sessions.append(session)  # the connection stays open, idle, kept alive
    return sessions


def test_idle_keepalive_connections_hold_their_last_body(server: Server) -> None:
    n = 6

    async def scenario() -> dict[str, Any]:
        sessions = await _idle_clients(server.url, n)
        try:
            return await asyncio.to_thread(server.holders)
        finally:
            for session in sessions:
                await session.close()

    result = asyncio.run(scenario())
    held = [g for g in result["groups"] if g["root"] == HANDLER_START]
    assert len(held) == 1, result["groups"]
    group = held[0]
    assert group["type"] == "bytes"
    assert group["count"] == n
    assert group["each_bytes_median"] >= 400_000
    assert "attribute `_body` of aiohttp.web_response.Response" in group["chain"]


def test_a_tiny_budget_cuts_the_walk(server: Server) -> None:
    with urllib.request.urlopen(server.url + "planted", timeout=10) as resp:
        resp.read()
    result = server.holders(budget_s=0.0)
    assert result["truncated"] is True
    assert result["truncated_at"] == "scan"


def test_the_runner_asks_collects_and_keeps_holders_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    agent_dir = run_dir / whoholds.AGENT_DIR
    assert "PYTHONTRACEMALLOC" not in whoholds.holders_env({})
    env = whoholds.holders_env(agent_env(os.environ, agent_dir, 0.5), tracemalloc_frames=1)
    assert env["PYTHONTRACEMALLOC"] == "1"
    proc = subprocess.Popen([sys.executable, str(APP)], stdout=subprocess.PIPE, text=True, env=env)
    with proc:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with urllib.request.urlopen(url + "planted", timeout=10) as resp:
            resp.read()
        asked = whoholds.ask(run_dir, proc.pid)
        assert asked.pids == (proc.pid,)
        holders, problem = whoholds.collect(run_dir, asked)
        proc.terminate()
    assert problem is None
    kept = json.loads((run_dir / whoholds.HOLDERS_FILE).read_text())
    assert list(kept["processes"]) == [str(proc.pid)]
    planted = [g for g in holders.groups if "LAST_BODY" in g.root]
    assert len(planted) == 1 and planted[0].count == 1
    # Under tracemalloc the body's allocation site is the handler's line.
    assert planted[0].allocated_at and "holders_app.py" in planted[0].allocated_at[0]
    assert any("holders_app.py" in s.location for s in holders.top_sites)
