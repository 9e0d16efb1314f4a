"""Probe test app: a tiny aiohttp server that retains memory on every request.

`python retainer_app.py ADMIN_TOKEN` prints its base URL as the first stdout line,
like the reference server, and mounts the real admin /debug routes from
reference_server.debug. GET /work keeps about 20 KiB per call in a module-level list:
the line marked RETAINS is what a heap diff must name.
"""

import asyncio
import sys

import serving
from aiohttp import web

from reference_server.debug import setup_debug

_RETAINED: list[list[str]] = []


async def work(request: web.Request) -> web.Response:
    n = len(_RETAINED)
    _RETAINED.append([f"segment {n}:{i} " * 4 for i in range(200)])  # RETAINS
    scratch = [str(i) for i in range(2000)]  # freed at once: must not rank
    return web.json_response({"n": n, "scratch": len(scratch)})


async def serve(admin_token: str) -> None:
    app = web.Application()
    app.router.add_get("/work", work)
    setup_debug(app, admin_token)
    await serving.serve(app)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
