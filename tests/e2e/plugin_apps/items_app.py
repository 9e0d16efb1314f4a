"""A small aiohttp app (not the reference server) that keeps `--retain-kib` per request.

The pytest plugin's tests measure it: with `--retain-kib 0` its RSS stays flat under
load; with a few hundred KiB per request it grows steadily, a leak any gate must see;
with `--crash-after-s` it dies during the run (an invalid run: nothing left to measure).
The retained bytes are written (not calloc'ed zeros, whose pages the kernel would never
map), so RSS really grows. Prints its base URL as the first stdout line once it listens
(or listens on `--port` and prints nothing); SIGTERM stops it.

    python items_app.py --retain-kib 256
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from aiohttp import web

KEPT: list[bytes] = []


def make_app(retain_bytes: int) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        if retain_bytes:
            KEPT.append(b"x" * retain_bytes)  # retained on purpose: the leak to catch
        return web.json_response({"item": request.match_info["n"], "kept": len(KEPT)})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/items/{n}", item)
    app.router.add_get("/healthz", healthz)
    return app


async def main(retain_kib: int, crash_after_s: float, port: int, quiet: bool) -> None:
    runner = web.AppRunner(make_app(retain_kib * 1024), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    if not quiet:
        print(f"http://{host}:{bound}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if crash_after_s:
        loop.call_later(crash_after_s, os._exit, 70)  # dies mid-run, as a crash would
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retain-kib", type=int, default=0, help="KiB kept per request")
    parser.add_argument("--crash-after-s", type=float, default=0, help="exit abruptly then")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--quiet", action="store_true", help="do not print the URL")
    args = parser.parse_args()
    asyncio.run(main(args.retain_kib, args.crash_after_s, args.port, args.quiet))
