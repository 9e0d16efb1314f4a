"""Admin-only `/debug/*` routes: tracemalloc control, memory summary, malloc_trim probe.

`setup_debug(app, admin_token)` adds them only when an admin token is configured, and
every handler answers 404 (not 401/403) unless the request carries exactly
`Authorization: Bearer <admin token>`, so the routes cannot even be discovered.

    POST /debug/tracemalloc/start     {"frames": 25}   start tracing (or report it runs)
    POST /debug/tracemalloc/stop                        stop tracing, free its memory
    POST /debug/tracemalloc/snapshot  {"path": "..."}   write a .tracemalloc file (snapshot.dump)
    POST /debug/tracemalloc/reset-peak                  restart tracemalloc's peak (and the
                                                        per-request peaks of allocpeak.py)
    GET  /debug/memory                                  RSS, VmHWM, heap, arenas, gc, tracemalloc
                                                        (with its per-request peaks)
    POST /debug/malloc-trim                             malloc_trim(0): RSS before/after

The allocator figures come from glibc (`mallinfo2` for heap bytes, `malloc_info` XML
for the number of arenas) through ctypes; elsewhere, or with jemalloc preloaded, they
are null and `allocator` says why. This module imports nothing from profiling/.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import dataclasses
import gc
import hmac
import os
import pickle
import tempfile
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from reference_server.allocpeak import REQUEST_PEAKS
from reference_server.openapi import ADMIN_TOKEN, Handler, Route, error, json_reply, register

DEFAULT_FRAMES = 25


_MALLINFO_FIELDS = (
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO_FIELDS]


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def _status_bytes() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes, from /proc/self/status."""
    out = {"rss_bytes": 0, "peak_rss_bytes": 0}
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == "VmRSS":
            out["rss_bytes"] = int(rest.split()[0]) * 1024
        elif key == "VmHWM":
            out["peak_rss_bytes"] = int(rest.split()[0]) * 1024
    return out


def allocator_name() -> str:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    return "jemalloc" if "libjemalloc" in maps else "glibc"


def mallinfo2() -> dict[str, int] | None:
    """glibc's heap figures (glibc >= 2.33), or None where it is missing."""
    fn = getattr(_LIBC, "mallinfo2", None) if _LIBC is not None else None
    if fn is None:
        return None
    fn.restype = _Mallinfo2
    info = fn()
    return {name: int(getattr(info, name)) for name in _MALLINFO_FIELDS}


def parse_malloc_info(xml_text: str) -> dict[str, int]:
    """Arena count and totals from glibc's malloc_info XML."""
    root = ET.fromstring(xml_text)
    out = {"arenas": len(root.findall("heap"))}
    for tag, kind, key in (
        ("system", "current", "system_current_bytes"),
        ("system", "max", "system_max_bytes"),
        ("aspace", "total", "aspace_total_bytes"),
    ):
        node = root.find(f"{tag}[@type='{kind}']")
        if node is not None:
            out[key] = int(node.get("size", "0"))
    return out


def malloc_info() -> dict[str, int] | None:
    """Run glibc's malloc_info(0, FILE*) into a temp file and parse it."""
    if _LIBC is None or not hasattr(_LIBC, "malloc_info"):
        return None
    fopen, fclose = _LIBC.fopen, _LIBC.fclose
    fopen.restype = ctypes.c_void_p
    fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    fclose.argtypes = [ctypes.c_void_p]
    _LIBC.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        fp = fopen(tmp.name.encode(), b"w")
        if not fp:
            return None
        try:
            _LIBC.malloc_info(0, fp)
        finally:
            fclose(fp)
        text = Path(tmp.name).read_text()
    return parse_malloc_info(text) if text else None


def memory_summary() -> dict[str, Any]:
    """Everything /debug/memory reports; cheap enough to call between phases."""
    status = _status_bytes()
    allocator = allocator_name()
    heap = mallinfo2() if allocator == "glibc" else None
    info = malloc_info() if allocator == "glibc" else None
    heap_in_use = heap["uordblks"] + heap["hblkhd"] if heap else None
    current, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (None, None)
    if peak is not None:
        peak = REQUEST_PEAKS.phase_peak()  # the list requests' resets do not lose it
    return {
        **status,
        "pid": os.getpid(),
        "allocator": allocator,
        "heap_in_use_bytes": heap_in_use,
        "heap_free_bytes": heap["fordblks"] if heap else None,
        "rss_minus_heap_bytes": status["rss_bytes"] - heap_in_use if heap_in_use else None,
        "malloc_arenas": info["arenas"] if info else None,
        "malloc_system_bytes": info.get("system_current_bytes") if info else None,
        # glibc's high-water mark of memory obtained from the system for the heap
        "malloc_system_max_bytes": info.get("system_max_bytes") if info else None,
        "tracemalloc": {
            "tracing": tracemalloc.is_tracing(),
            "frames": tracemalloc.get_traceback_limit() if tracemalloc.is_tracing() else None,
            "current_bytes": current,
            "peak_bytes": peak,
            # Traced peak above each request's start, per kind ("list"), since the last
            # reset-peak; requests that overlapped another of their kind are counted only.
            "request_peaks": REQUEST_PEAKS.summary(),
        },
        "gc": {
            "counts": list(gc.get_count()),
            "collections": [s["collections"] for s in gc.get_stats()],
            "objects": len(gc.get_objects()),
        },
        "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None,
    }


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


async def _json_body(request: web.Request, field: str) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        return {"__invalid__": True}
    # Only the fields a route reads: `$`- or `.`-keys and typos are refused, not ignored.
    if not isinstance(body, dict) or set(body) - {field}:
        return {"__invalid__": True}
    return body


async def tracemalloc_start(request: web.Request) -> web.Response:
    body = await _json_body(request, "frames")
    frames = body.get("frames", DEFAULT_FRAMES)
    if type(frames) is float and frames.is_integer():
        frames = int(frames)  # JSON has one number type: 7.0 is the integer 7
    # type() rather than isinstance(): true is an int to Python, not to JSON.
    if "__invalid__" in body or type(frames) is not int or not 1 <= frames <= 1000:
        return _error(400, "bad_request", 'body must be {"frames": N} with 1 <= N <= 1000')
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start(frames)
    return web.json_response(
        {"tracing": True, "frames": tracemalloc.get_traceback_limit(), "already": already}
    )


async def tracemalloc_stop(request: web.Request) -> web.Response:
    tracemalloc.stop()
    return web.json_response({"tracing": False})


async def tracemalloc_snapshot(request: web.Request) -> web.Response:
    body = await _json_body(request, "path")
    path = body.get("path")
    if "__invalid__" in body or not isinstance(path, str) or not path:
        return _error(400, "bad_request", 'body must be {"path": "/where/to/write.tracemalloc"}')
    if not tracemalloc.is_tracing():
        return _error(409, "not_tracing", "start tracemalloc first: POST /debug/tracemalloc/start")
    # Take the snapshot on the loop (a consistent moment); pickling it can take seconds
    # on a large heap, so that part runs in a thread.
    snapshot = tracemalloc.take_snapshot()
    current, peak = tracemalloc.get_traced_memory()
    target = Path(path)
    try:
        await asyncio.to_thread(dump_snapshot, snapshot, target)
    except OSError as exc:
        return _error(400, "bad_path", f"cannot write {target}: {exc.strerror}")
    return web.json_response(
        {
            "path": str(target),
            "traces": len(snapshot.traces),
            "traced_current_bytes": current,
            "traced_peak_bytes": peak,
            "frames": snapshot.traceback_limit,
        }
    )


def dump_snapshot(snapshot: tracemalloc.Snapshot, target: Path) -> None:
    """Snapshot.dump's file, pickled in memory and written at once: pickling straight to
    the file releases the GIL at every 64 KiB write, and a loop thread busy in long C
    calls (a 2.3 s json.dumps under 25 frames) then takes it each time (a 5 MB snapshot
    took minutes)."""
    write_snapshot(snapshot_bytes(snapshot), target)


def snapshot_bytes(snapshot: tracemalloc.Snapshot) -> bytes:
    return pickle.dumps(snapshot, pickle.HIGHEST_PROTOCOL)  # what Snapshot.dump writes


def write_snapshot(data: bytes, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


async def tracemalloc_reset_peak(request: web.Request) -> web.Response:
    if not tracemalloc.is_tracing():
        return _error(409, "not_tracing", "start tracemalloc first: POST /debug/tracemalloc/start")
    return web.json_response(reset_peaks())


def reset_peaks() -> dict[str, Any]:
    """Restart tracemalloc's peak and the per-request peaks (tracemalloc must be on)."""
    before = REQUEST_PEAKS.phase_peak()
    tracemalloc.reset_peak()
    REQUEST_PEAKS.reset()
    current, peak = tracemalloc.get_traced_memory()
    return {
        "previous_peak_bytes": before,
        "traced_current_bytes": current,
        "traced_peak_bytes": peak,
    }


async def memory(request: web.Request) -> web.Response:
    return web.json_response(memory_summary())


async def malloc_trim(request: web.Request) -> web.Response:
    status, body = malloc_trim_report()
    return web.json_response(body, status=status)


def malloc_trim_report() -> tuple[int, dict[str, Any]]:
    """malloc_trim(0) and RSS before and after: (HTTP status, body)."""
    if _LIBC is None or not hasattr(_LIBC, "malloc_trim") or allocator_name() != "glibc":
        detail = f"malloc_trim needs glibc malloc ({allocator_name()})"
        return 409, {"error": "unsupported", "detail": detail}
    before = _status_bytes()["rss_bytes"]
    heap_before = mallinfo2()
    released = int(_LIBC.malloc_trim(0))
    after = _status_bytes()["rss_bytes"]
    heap_after = mallinfo2()
    return 200, {
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "returned_bytes": before - after,
        "released": bool(released),  # glibc: 1 if any memory went back to the OS
        "heap_free_before_bytes": heap_before["fordblks"] if heap_before else None,
        "heap_free_after_bytes": heap_after["fordblks"] if heap_after else None,
    }


def _admin_only(token: str, method: str, handler: Handler) -> Handler:
    expected = f"Bearer {token}".encode()

    async def guarded(request: web.Request) -> web.StreamResponse:
        # Non-UTF-8 header bytes arrive surrogate-escaped; encode them back, never fail.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        # Check the token before the method, so a wrong method does not reveal the route.
        if not hmac.compare_digest(given, expected):
            raise web.HTTPNotFound()
        if request.method != method:
            raise web.HTTPMethodNotAllowed(request.method, [method])
        return await handler(request)

    return guarded


_OBJECT: dict[str, Any] = {"type": "object"}
_NO_BODY = error("tracemalloc is not running, or malloc_trim needs glibc")


def _debug_route(method: str, path: str, handler: Handler, summary: str, **kw: Any) -> Route:
    responses = {200: json_reply("done", _OBJECT), **kw.pop("responses", {})}
    return Route(method, path, handler, summary, responses, auth="admin", **kw)


DEBUG_ROUTES: list[Route] = [
    _debug_route(
        "POST",
        "/debug/tracemalloc/start",
        tracemalloc_start,
        "start tracemalloc with N frames (or report that it runs)",
        body={
            "application/json": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"frames": {"type": "integer", "minimum": 1, "maximum": 1000}},
            }
        },
        body_required=False,
        responses={400: error("frames out of range")},
    ),
    _debug_route(
        "POST", "/debug/tracemalloc/stop", tracemalloc_stop, "stop tracing, free its memory"
    ),
    _debug_route(
        "POST",
        "/debug/tracemalloc/snapshot",
        tracemalloc_snapshot,
        "write a .tracemalloc snapshot file at path",
        body={
            "application/json": {
                "type": "object",
                "required": ["path"],
                "additionalProperties": False,
                "properties": {"path": {"type": "string", "minLength": 1}},
            }
        },
        responses={400: error("no path, or it cannot be written"), 409: _NO_BODY},
    ),
    _debug_route(
        "POST",
        "/debug/tracemalloc/reset-peak",
        tracemalloc_reset_peak,
        "restart tracemalloc's peak",
        responses={409: _NO_BODY},
    ),
    _debug_route("GET", "/debug/memory", memory, "RSS, VmHWM, heap, arenas, gc, tracemalloc"),
    _debug_route(
        "POST",
        "/debug/malloc-trim",
        malloc_trim,
        "malloc_trim(0): RSS before and after",
        responses={409: _NO_BODY},
    ),
]


def setup_debug(app: web.Application, admin_token: str | None, debug_port: int = 0) -> None:
    """Add the /debug routes, guarded by `admin_token`; none at all when it is None. With
    `debug_port`, the attribution routes are also served off the loop (debugthread.py)."""
    if not admin_token:
        return
    if debug_port:
        app.cleanup_ctx.append(_debug_listener(admin_token, debug_port))
    app[ADMIN_TOKEN] = admin_token
    guarded = [
        dataclasses.replace(r, handler=_admin_only(admin_token, r.method, r.handler))
        for r in DEBUG_ROUTES
    ]
    register(app, guarded, any_method=True)


def _debug_listener(token: str, port: int) -> Callable[[web.Application], AsyncIterator[None]]:
    async def listener(app: web.Application) -> AsyncIterator[None]:
        from reference_server.debugthread import start_debug_thread  # imports this module

        server = start_debug_thread(token, port)
        yield
        if server is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()

    return listener
