"""Probe test app: a plain aiohttp server with a planted holder and a stand-in agent.

`python holders_app.py AGENT_DIR` prints its base URL as the first stdout line. It
imports `holders` the way the in-process agent does (the agent folder on sys.path) and
runs a small thread that answers the runner's file requests
(`profiling.probes.holdersclient`) with `find_holders()`: a stand-in for the agent's own
loop until the agent lands, so that the runner's side and the walk are tested together
on a real process.

    GET /planted   a 512 KiB body, kept in the module-level dict LAST_BODY (the planted
                   holder a test must find by name)
    GET /body      a fresh ~400 KB body, kept by nothing of ours
"""

import asyncio
import json
import os
import signal
import sys
import threading
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "profiling" / "probes" / "agent"))
import holders  # from the agent folder, as the server under test imports it

LAST_BODY: dict[int, bytes] = {}
_COUNT = [0]


async def planted(request: web.Request) -> web.Response:
    _COUNT[0] += 1
    body = os.urandom(512 * 1024)
    LAST_BODY.clear()  # the last body only: the planted holder keeps one
    LAST_BODY[_COUNT[0]] = body
    return web.Response(body=body)


async def body(request: web.Request) -> web.Response:
    return web.Response(body=os.urandom(400_000))


def answer_requests(agent_dir: Path, stop: threading.Event) -> None:
    done: set[str] = set()
    request = agent_dir / "holders-request.json"
    while not stop.wait(0.1):
        try:
            asked = json.loads(request.read_text())
        except (OSError, ValueError):
            continue
        if asked["id"] in done:
            continue
        done.add(asked["id"])
        result = holders.find_holders(**asked.get("args", {}))
        out = agent_dir / f"holders-{asked['id']}-{os.getpid()}.json"
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        tmp.replace(out)


async def serve(agent_dir: Path) -> None:
    app = web.Application()
    app.router.add_get("/planted", planted)
    app.router.add_get("/body", body)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stop_agent = threading.Event()
    agent = threading.Thread(target=answer_requests, args=(agent_dir, stop_agent), daemon=True)
    agent.start()
    print(f"http://127.0.0.1:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    stop_agent.set()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
