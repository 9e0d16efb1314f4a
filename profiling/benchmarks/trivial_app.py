"""The yardstick for a status poll: the cheapest aiohttp handler that answers JSON.

python -m profiling.benchmarks.trivial_app [--host 127.0.0.1] [--port 0]

One `GET /` returning a four-field JSON object with `web.json_response`, served the way
the reference server serves (an `AppRunner` without an access log), so the difference
between the two is what the reference server's status path adds on top of aiohttp
itself. It prints its base URL as the first stdout line once it accepts connections
and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

BODY = {"task_id": "0" * 32, "status": "transcribing", "progress": 42.5, "segment_count": 20000}


async def answer(request: web.Request) -> web.Response:
    return web.json_response(BODY)


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"http://{bound_host}:{bound_port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = p.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port))
    except OSError as exc:
        print(f"trivial_app: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
