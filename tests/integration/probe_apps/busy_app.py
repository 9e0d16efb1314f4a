"""Probe test app: an aiohttp server whose event loop is kept busy in long C calls.

`python busy_app.py ADMIN_TOKEN DEBUG_PORT` prints its base URL as the first stdout line
and mounts the real admin /debug routes (reference_server.debug), with the off-loop
listener on 127.0.0.1:DEBUG_PORT. GET /encode answers a json.dumps of a ~1.5 MB
document, one long C call that holds the GIL (seconds under tracemalloc with many
frames): a storm of them keeps the loop minutes behind, as a full-view design's polls
do in an attribution run.
"""

import asyncio
import json
import sys

import serving
from aiohttp import web

from reference_server.debug import setup_debug

DOC = {
    "segments": [
        {
            "id": i,
            "text": "word " * 20,
            "words": [{"word": f"w{j}", "start": j * 0.1} for j in range(20)],
        }
        for i in range(1000)
    ]
}


async def encode(request: web.Request) -> web.Response:
    return web.Response(body=json.dumps(DOC).encode(), content_type="application/json")


async def serve(admin_token: str, debug_port: int) -> None:
    app = web.Application()
    app.router.add_get("/encode", encode)
    setup_debug(app, admin_token, debug_port)
    await serving.serve(app)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
