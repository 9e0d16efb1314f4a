"""A small aiohttp server that forks a worker holding memory, like a gunicorn-style server.

Before it serves, the process forks one worker that writes `--worker-mib` MiB (every page
touched) and then waits for its signal; the parent serves `GET /work` (a small reply) on
`--port` and `/healthz`. memdiag must measure the two as one tree: the worker's memory
is the server's, its own VmHWM in the report's table of processes, and the tree's PSS
counts the pages the two share after the fork once.

    python forking_app.py --port 8080 --worker-mib 24
"""

from __future__ import annotations

import argparse
import os
import signal
import socket

from aiohttp import web


def _worker(mib: float) -> None:
    ballast = b"w" * int(mib * (1 << 20))  # touched: multiplication writes every byte
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    del ballast


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--worker-mib", type=float, default=24.0)
    args = parser.parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    worker = os.fork()
    if worker == 0:
        _worker(args.worker_mib)
        os._exit(0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    async def work(_request: web.Request) -> web.Response:
        return web.json_response({"worker": worker})

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def stop_worker(_app: web.Application) -> None:
        os.kill(worker, signal.SIGTERM)
        os.waitpid(worker, 0)

    app = web.Application()
    app.router.add_get("/work", work)
    app.router.add_get("/healthz", health)
    app.on_cleanup.append(stop_worker)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    web.run_app(app, sock=sock, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
