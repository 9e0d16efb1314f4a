"""Shared start-up of the probe test apps: serve an aiohttp app until SIGTERM or SIGINT.

`serve(app)` binds 127.0.0.1 on a free port, prints the base URL as the first stdout
line (the reference server's habit, which the tests and memdiag's runner read), and
cleans up on a signal. The apps run as scripts (`python busy_app.py ...`), so their
folder is first on sys.path and `from serving import serve` finds this module.
"""

import asyncio
import signal

from aiohttp import web


async def serve(app: web.Application) -> None:
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
