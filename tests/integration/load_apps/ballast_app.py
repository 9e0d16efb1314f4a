"""A small aiohttp server whose requests cost a known amount of memory, for build tests.

Each `GET /work` builds a body of `--mib` MiB (written, so the pages are really touched)
and answers its length: the peak RSS follows `--mib` by design, so two builds that differ
by 1.5x in it differ far above run-to-run noise. `--port N` listens there; `--port 0`
picks a port and prints the base URL as the first stdout line (the reference server's
habit). `--exit-at-once` exits with 3 before listening (a command that fails at start);
`--never-healthy` answers /healthz with 503 forever.

    python ballast_app.py --port 8080 --mib 40
"""

from __future__ import annotations

import argparse
import socket
import sys

from aiohttp import web


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mib", type=float, default=40.0)
    parser.add_argument("--exit-at-once", action="store_true")
    parser.add_argument("--never-healthy", action="store_true")
    args = parser.parse_args(argv)
    if args.exit_at_once:
        print("ballast_app: asked to exit at once", file=sys.stderr)
        return 3
    size = int(args.mib * (1 << 20))

    async def work(_request: web.Request) -> web.Response:
        body = b"x" * size  # touched: multiplication writes every byte
        return web.json_response({"bytes": len(body)})

    async def health(_request: web.Request) -> web.Response:
        return web.Response(status=503 if args.never_healthy else 200, text="ok")

    app = web.Application()
    app.router.add_get("/work", work)
    app.router.add_get("/healthz", health)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    if args.port == 0:
        print(f"http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    web.run_app(app, sock=sock, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
