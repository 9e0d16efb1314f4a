"""An idle keep-alive connection holds its last reply body: aiohttp, nothing else.

aiohttp's connection loop (`aiohttp.web_protocol.RequestHandler.start`) keeps the
last `web.Response` it sent in a local while it waits for the next request on the same
keep-alive connection, for up to the keep-alive timeout (75 s by default). Every idle
connection therefore holds one whole reply body. A handler that writes its body through
a `web.StreamResponse` keeps none: the response object stays, its body does not.

    python examples/keepalive_body/repro.py                  # 200 connections, 1 MiB bodies
    python examples/keepalive_body/repro.py --connections 50 --body-kib 400 --json

It starts this file as a plain aiohttp server in a child process twice (`Response`,
then `StreamResponse`), opens N keep-alive connections, sends one GET on each and
leaves them idle; while they are still open it reads the server's RSS from /proc and
asks the server how many reply-sized `bytes` objects are alive and who holds them (a
walk of the gc's objects).
Needs only aiohttp; Linux for /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import types
from collections import Counter
from typing import Any

from aiohttp import ClientSession, TCPConnector, web


def _rss_bytes(pid: int) -> int:
    # smaps_rollup, not status: VmRSS is kept in per-thread batches and can lag by MiBs.
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Rss for pid {pid}")


def _holder(container: object, body: bytes) -> str:
    """Who refers to `body`, one level up, in words."""
    kind = f"{type(container).__module__}.{type(container).__qualname__}"
    walker = sys._getframe(1)  # the walk's own coroutine refers to `container` too
    for outer in gc.get_referrers(container):
        if isinstance(outer, types.CoroutineType) and outer.cr_frame not in (None, walker):
            names = [k for k, v in outer.cr_frame.f_locals.items() if v is container]
            if names:
                return f"{kind} <- local `{names[0]}` of coroutine {outer.__qualname__}"
    return kind


def serve(port: int, body_bytes: int, stream: bool) -> None:
    """The server under test: GET /body answers `body_bytes` of fresh JSON-ish bytes."""

    async def body(request: web.Request) -> web.StreamResponse:
        data = b"[" + b"1," * (body_bytes // 2 - 1) + b"1]"  # a new object per reply
        if not stream:
            return web.Response(body=data, content_type="application/json")
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data)
        await resp.write_eof()
        return resp

    async def alive(request: web.Request) -> web.Response:
        held: Counter[str] = Counter()
        for container in gc.get_objects():
            for ref in gc.get_referents(container):
                if type(ref) is bytes and len(ref) >= body_bytes:
                    held[_holder(container, ref)] += 1
        return web.json_response({"bodies_alive": sum(held.values()), "held_by": held})

    app = web.Application()
    app.router.add_get("/body", body)
    app.router.add_get("/alive", alive)
    web.run_app(app, host="127.0.0.1", port=port, print=lambda *_: print("ready", flush=True))


async def _drive(port: int, pid: int, connections: int) -> dict[str, Any]:
    """Open the connections, one GET each, and measure while they are idle and open."""
    url = f"http://127.0.0.1:{port}"
    before = _rss_bytes(pid)
    # One connector per "tab", limit 1: each session is exactly one keep-alive connection.
    sessions = [ClientSession(connector=TCPConnector(limit=1)) for _ in range(connections)]
    try:
        for session in sessions:
            async with session.get(url + "/body") as resp:
                await resp.read()
        await asyncio.sleep(0.5)  # every connection is now idle, kept alive
        after = _rss_bytes(pid)
        async with ClientSession() as probe, probe.get(url + "/alive") as resp:
            found = dict(await resp.json())
        return {"rss_growth_bytes": after - before, **found}
    finally:
        for session in sessions:
            await session.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(connections: int, body_bytes: int, stream: bool) -> dict[str, Any]:
    """Start a server, hold `connections` idle keep-alive connections, read its memory."""
    port = _free_port()
    argv = [sys.executable, __file__, "--serve", str(port), "--body-kib", str(body_bytes // 1024)]
    proc = subprocess.Popen(
        argv + (["--stream"] if stream else []), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the example server did not start")
        found = asyncio.run(_drive(port, proc.pid, connections))
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "reply": "StreamResponse" if stream else "Response",
        "connections": connections,
        "body_bytes": body_bytes,
        "rss_growth_per_connection_bytes": found["rss_growth_bytes"] / connections,
        **found,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=200, help="idle keep-alive connections")
    parser.add_argument("--body-kib", type=int, default=1024, help="reply body size in KiB")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.body_kib < 1:
        parser.error("--connections and --body-kib must be at least 1")
    body_bytes = args.body_kib * 1024
    if args.serve is not None:
        serve(args.serve, body_bytes, args.stream)
        return 0
    rows = [measure(args.connections, body_bytes, stream) for stream in (False, True)]
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    print(f"{args.connections} idle keep-alive connections, {args.body_kib} KiB reply bodies")
    for row in rows:
        print(
            f"  {row['reply']:<15} RSS +{row['rss_growth_bytes'] / 2**20:6.1f} MiB"
            f" ({row['rss_growth_per_connection_bytes'] / 2**20:.2f} MiB per connection),"
            f" {row['bodies_alive']} bodies alive"
        )
        for holder, count in row["held_by"].items():
            print(f"    {count} held by {holder}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
