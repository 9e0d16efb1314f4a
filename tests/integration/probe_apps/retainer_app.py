"""Probe test app: a tiny aiohttp server that retains memory on every request.

`python retainer_app.py ADMIN_TOKEN` prints its base URL as the first stdout line,
like the reference server, and mounts the real admin /debug routes from
reference_server.debug. GET /work keeps about 20 KiB per call in a module-level list:
the line marked RETAINS is what a heap diff must name.
"""

import asyncio
import signal
import sys

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
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
