"""Probe test app: a plain aiohttp server with a planted holder.

`python holders_app.py` prints its base URL as the first stdout line. Nothing in it
knows about memdiag: the tests start it with the in-process agent's environment
(`profiling.probes.agentlog.agent_env`), and the agent answers the runner's holder
requests (`profiling.probes.holdersclient`) from inside it, as it does for any server.

    GET /planted   a 512 KiB body, kept in the module-level dict LAST_BODY (the planted
                   holder a test must find by name)
    GET /body      a fresh ~400 KB body, kept by nothing of ours
"""

import asyncio
import os

import serving
from aiohttp import web

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


async def serve() -> None:
    app = web.Application()
    app.router.add_get("/planted", planted)
    app.router.add_get("/body", body)
    await serving.serve(app)


if __name__ == "__main__":
    asyncio.run(serve())
