"""A small aiohttp app that is not the reference server: it keeps 64 KiB per request.

`memdiag measure --url URL --pid PID` must measure any server; this one grows by a
known amount per request, so its RSS climbs under load. Prints its base URL as the
first stdout line once it listens; SIGTERM stops it.

    python retaining_app.py
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

KEPT: list[bytes] = []


async def item(request: web.Request) -> web.Response:
    KEPT.append(bytes(64 * 1024))  # retained on purpose: the leak memdiag should see
    return web.json_response({"item": request.match_info["n"], "kept": len(KEPT)})


async def main() -> None:
    app = web.Application()
    app.router.add_get("/items/{n}", item)
    app.router.add_get("/healthz", lambda _r: web.json_response({"status": "ok"}))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"http://{host}:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
