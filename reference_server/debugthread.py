"""The admin /debug routes that an attribution run needs, served off the event loop.

Under tracemalloc a full-view design cannot keep up with the storm: with 25 frames a
`json.dumps` of a 1 MB task took 2.3 s instead of 0.11 s (measured), so at 10 polls/s
the loop fell minutes behind and an admin request on it waited its turn behind every
queued poll: "POST /debug/tracemalloc/snapshot: timed out" after 60 s, although taking
the snapshot itself takes a fraction of a second. This listener answers the same
requests from a thread of its own, on `127.0.0.1:<--debug-port>`, so it needs only the
GIL between two of the loop's C calls, not a turn on the loop:

    POST /debug/tracemalloc/snapshot  {"path": "..."}   take and write a snapshot
    POST /debug/tracemalloc/reset-peak                  restart the peaks
    GET  /debug/memory                                  as on the app
    POST /debug/malloc-trim                             as on the app

The same admin token guards it, and a wrong token gets 404 as on the app. A server with
several processes binds the port in the first one only (the others log that it is
taken), so a multi-process run's snapshots are of one process, as they were before.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
import threading
import tracemalloc
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reference_server.debug import (
    malloc_trim_report,
    memory_summary,
    reset_peaks,
    snapshot_bytes,
    write_snapshot,
)

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


def _snapshot(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    path = body.get("path")
    if set(body) - {"path"} or not isinstance(path, str) or not path:
        return 400, {"error": "bad_request", "detail": 'body must be {"path": "..."}'}
    if not tracemalloc.is_tracing():
        return 409, {"error": "not_tracing", "detail": "start tracemalloc first"}
    # Keep the GIL from the take to the pickled bytes (the loop stops meanwhile): every
    # hand-over to a loop busy in a long C call costs seconds. Not across the write: a
    # thread waiting for the GIL under a long switch interval would wait that long.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(max(previous, 60.0))
    try:
        snapshot = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        data = snapshot_bytes(snapshot)
    finally:
        sys.setswitchinterval(previous)
    try:
        write_snapshot(data, Path(path))
    except OSError as exc:
        return 400, {"error": "bad_path", "detail": f"cannot write {path}: {exc.strerror}"}
    return 200, {
        "path": path,
        "traces": len(snapshot.traces),
        "traced_current_bytes": current,
        "traced_peak_bytes": peak,
        "frames": snapshot.traceback_limit,
    }


def _reset_peak(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if not tracemalloc.is_tracing():
        return 409, {"error": "not_tracing", "detail": "start tracemalloc first"}
    return 200, reset_peaks()


def _memory(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, memory_summary()


def _trim(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return malloc_trim_report()


Route = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/debug/tracemalloc/snapshot"): _snapshot,
    ("POST", "/debug/tracemalloc/reset-peak"): _reset_peak,
    ("GET", "/debug/memory"): _memory,
    ("POST", "/debug/malloc-trim"): _trim,
}


def _handler(token: str) -> type[BaseHTTPRequestHandler]:
    expected = f"Bearer {token}".encode()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            given = self.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            route = ROUTES.get((method, self.path))
            if not hmac.compare_digest(given, expected) or route is None:
                self._reply(404, {"error": "not_found", "detail": self.path})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reply(413, {"error": "too_large", "detail": "body too large"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._reply(400, {"error": "bad_request", "detail": "body must be an object"})
                return
            self._reply(*route(body))

        def _reply(self, status: int, data: dict[str, Any]) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return  # the server's log is for the app; these are the profiler's calls

    return Handler


def start_debug_thread(token: str, port: int) -> ThreadingHTTPServer | None:
    """Serve the routes above on 127.0.0.1:`port` from a daemon thread; None (logged)
    when the port is taken, as by the first process of a multi-process server."""
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(token))
    except OSError as exc:
        log.warning("debug listener not started on 127.0.0.1:%d: %s", port, exc)
        return None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="debug-listener", daemon=True)
    thread.start()
    return server
