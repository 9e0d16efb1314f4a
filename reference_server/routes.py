"""HTTP handlers (thin: parse, authenticate, call the task service) and the route table.

The table (`ROUTES`) is a list of `openapi.Route`: each handler with its summary, query
parameters, request body and responses, from which `GET /openapi.json` is built.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from reference_server.allocpeak import REQUEST_PEAKS
from reference_server.errors import RETRY_AFTER_S, BadRequest, short_error
from reference_server.models import TaskState
from reference_server.openapi import Param, Reply, Route, error, json_reply, serve_document
from reference_server.pipeline.audio import CONVERT_METHODS
from reference_server.pipeline.engines import ENGINE_NAMES
from reference_server.state import AUTH, METRICS, SERVICE, SETTINGS, STORE
from reference_server.tasks import MAX_RATE, MIN_RATE, SYNTHETIC_INTS
from reference_server.uploads import create_upload_task

JSON = "application/json"


async def _send_json(request: web.Request, body: bytes) -> web.StreamResponse:
    """A JSON reply of already encoded bytes.

    aiohttp's connection loop keeps the returned `Response` (and so its body) alive
    until the next request on the same keep-alive connection: one reply body per idle
    connection. With `release_body_after_send` the handler writes the body itself
    through a `StreamResponse`, which keeps no reference to it once sent.
    """
    if not request.app[SETTINGS].switches.release_body_after_send:
        return web.Response(body=body, content_type=JSON)
    resp = web.StreamResponse()
    resp.content_type = JSON
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body)
    await resp.write_eof()
    return resp


async def _json_body(request: web.Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object body; keys other than `fields` (`$where`, `a.b` ...) answer 400."""
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(map(repr, unknown))}")
    return body


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be from {lo} to {hi}")
    return value


async def create_user(request: web.Request) -> web.Response:
    body = await _json_body(request, ("name",))
    name = body.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise BadRequest("name must be a string of 1 to 200 characters")
    user_id, token = await request.app[STORE].users.create(name)
    return web.json_response({"user_id": user_id, "token": token}, status=201)


async def create_task(request: web.Request) -> web.Response:
    user_id = await request.app[AUTH].user_id(request)
    service = request.app[SERVICE]
    if request.content_type.startswith("multipart/"):
        task_id = await create_upload_task(service, request, user_id)
    else:
        body = await _json_body(request, ("synthetic",))
        if "synthetic" not in body:
            raise BadRequest('expected {"synthetic": {...}} or a multipart upload in field "file"')
        task_id = await service.create_synthetic(user_id, body["synthetic"])
    return web.json_response({"task_id": task_id}, status=202)


async def task_status(request: web.Request) -> web.StreamResponse:
    figures = request.app[METRICS].status
    figures.started()
    try:
        user_id = await request.app[AUTH].user_id(request)
        body = await request.app[SERVICE].status(request.match_info["task_id"], user_id)
        return await _send_json(request, body)
    finally:
        figures.ended()


async def task_segments(request: web.Request) -> web.StreamResponse:
    user_id = await request.app[AUTH].user_id(request)
    offset = _int_query(request, "offset", 0, 0, 10**9)
    limit = _int_query(request, "limit", 100, 1, 1000)
    body = await request.app[SERVICE].segments(
        request.match_info["task_id"], user_id, offset, limit
    )
    return await _send_json(request, body)


async def list_tasks(request: web.Request) -> web.StreamResponse:
    user_id = await request.app[AUTH].user_id(request)
    # Under tracemalloc, the request's own allocation peak (allocpeak.py); else nothing.
    with REQUEST_PEAKS.measure("list"):
        body = await request.app[SERVICE].list_tasks(user_id)
    return await _send_json(request, body)


async def cancel_task(request: web.Request) -> web.Response:
    user_id = await request.app[AUTH].user_id(request)
    result = await request.app[SERVICE].cancel(request.match_info["task_id"], user_id)
    return web.json_response(result)


async def delete_task(request: web.Request) -> web.Response:
    user_id = await request.app[AUTH].user_id(request)
    await request.app[SERVICE].delete(request.match_info["task_id"], user_id)
    return web.Response(status=204)


async def healthz(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    info = {
        "mode": settings.mode,
        "driver": settings.driver,
        "switches": settings.switches.as_dict(),
    }
    # The driver gives up after --db-timeout-s; the outer bound covers a DB that accepts
    # connections but never answers.
    timeout_s = settings.db_timeout_s + 2.0
    try:
        await asyncio.wait_for(request.app[STORE].ping(), timeout_s)
    except Exception as exc:
        reason = (
            f"the database did not answer a ping within {timeout_s:.0f} s"
            if isinstance(exc, TimeoutError)
            else f"the database is unreachable: {short_error(exc)}"
        )
        return web.json_response(
            {"status": "degraded", "db": "unreachable", "reason": reason, **info},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return web.json_response({"status": "ok", "db": "ok", **info})


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    live = request.app[SERVICE].live
    m.live_tasks.set(live.live_count())
    for structure, count in live.sizes().items():
        m.live_entries.labels(structure).set(count)
    return web.Response(body=m.render(), headers={"Content-Type": "text/plain; version=0.0.4"})


# -- what the document says about each route ----------------------------------------

_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
SUMMARY: dict[str, Any] = {
    "type": "object",
    "required": ["task_id", "status", "progress", "segment_count", "error", "created_at"],
    "properties": {
        "task_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "status": {"type": "string", "enum": [s.value for s in TaskState]},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "segment_count": {"type": "integer", "minimum": 0},
        "error": {"type": ["string", "null"]},
        "created_at": _NULLABLE_TIME,
        "updated_at": _NULLABLE_TIME,
        "started_at": _NULLABLE_TIME,
        "finished_at": _NULLABLE_TIME,
    },
}
SEGMENT: dict[str, Any] = {"type": "object"}
STATUS: dict[str, Any] = {
    **SUMMARY,
    "properties": {**SUMMARY["properties"], "segments": {"type": "array", "items": SEGMENT}},
    "description": "summary view (lean), or the whole task with its segments (full view)",
}
SYNTHETIC: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        # The integer fields' ranges are the ones parse_synthetic checks, read from its table.
        **{
            name: {"type": "integer", "minimum": lo, "maximum": hi}
            for name, (lo, hi) in SYNTHETIC_INTS.items()
        },
        "segments_per_second": {"type": "number", "minimum": MIN_RATE, "maximum": MAX_RATE},
        "diarize": {"type": "boolean"},
        "diarize_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
    },
}
UPLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "additionalProperties": False,
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "engine": {"type": "string", "enum": list(ENGINE_NAMES)},
        "conversion": {"type": "string", "enum": list(CONVERT_METHODS)},
        "diarize": {"type": "string", "enum": ["true", "false"]},
    },
}
TASK_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["active_count", "total_count", "active_tasks", "all_tasks"],
    "properties": {
        "active_count": {"type": "integer", "minimum": 0},
        "total_count": {"type": "integer", "minimum": 0},
        "active_tasks": {"type": "array", "items": SUMMARY},
        "all_tasks": {"type": "array", "items": SUMMARY},
    },
}
HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status", "db", "mode", "driver", "switches"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "db": {"type": "string"},
        "reason": {"type": "string"},
        "mode": {"type": "string"},
        "driver": {"type": "string"},
        "switches": {"type": "object"},
    },
}
_BAD = error("invalid body or parameters")
_MISSING = error("no such task, or another user's")

ROUTES: list[Route] = [
    Route(
        "POST",
        "/api/users",
        create_user,
        "create a user; returns its bearer token (stored hashed)",
        auth="none",
        body={
            JSON: {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}},
            }
        },
        responses={
            201: json_reply(
                "the new user",
                {
                    "type": "object",
                    "required": ["user_id", "token"],
                    "properties": {"user_id": {"type": "string"}, "token": {"type": "string"}},
                },
            ),
            400: _BAD,
            413: error("body too large"),
        },
    ),
    Route(
        "POST",
        "/api/tasks",
        create_task,
        "start a synthetic task (JSON) or transcribe an uploaded audio file (multipart)",
        body={
            JSON: {
                "type": "object",
                "required": ["synthetic"],
                "additionalProperties": False,
                "properties": {"synthetic": SYNTHETIC},
            },
            "multipart/form-data": UPLOAD,
        },
        responses={
            202: json_reply(
                "queued",
                {"type": "object", "required": ["task_id"], "properties": {"task_id": {}}},
            ),
            400: _BAD,
            413: error("upload or body too large"),
            415: error("the upload is not audio ffmpeg can read"),
            422: error("valid fields that contradict, or a task too large for embedded storage"),
            507: error("no space left on the upload disk; nothing was stored"),
        },
    ),
    Route(
        "GET",
        "/api/tasks",
        list_tasks,
        "the user's tasks: active ones (newest first, limited per mode) and all",
        responses={200: json_reply("the lists", TASK_LIST)},
    ),
    Route(
        "GET",
        "/api/tasks/{task_id}",
        task_status,
        "status of one task (the polled route); the full views carry every segment",
        responses={200: json_reply("the status view", STATUS), 404: _MISSING},
    ),
    Route(
        "GET",
        "/api/tasks/{task_id}/segments",
        task_segments,
        "a page of a task's segments",
        query=(
            Param("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        ),
        responses={
            200: json_reply(
                "the page",
                {
                    "type": "object",
                    "required": ["segments", "offset", "total"],
                    "properties": {
                        "segments": {"type": "array", "items": SEGMENT},
                        "offset": {"type": "integer", "minimum": 0},
                        "total": {"type": "integer", "minimum": 0},
                    },
                },
            ),
            400: _BAD,
            404: _MISSING,
        },
    ),
    Route(
        "POST",
        "/api/tasks/{task_id}/cancel",
        cancel_task,
        "cancel a running task (child processes ended, temp files removed)",
        responses={
            200: json_reply(
                "the task's final state",
                {
                    "type": "object",
                    "required": ["task_id", "status"],
                    "properties": {"task_id": {"type": "string"}, "status": {"type": "string"}},
                },
            ),
            404: _MISSING,
            409: error("the task has already ended"),
        },
    ),
    Route(
        "DELETE",
        "/api/tasks/{task_id}",
        delete_task,
        "delete a finished task",
        responses={
            204: Reply("deleted"),
            404: _MISSING,
            409: error("the task is still running"),
        },
    ),
    Route(
        "GET",
        "/healthz",
        healthz,
        "liveness and DB reachability",
        auth="none",
        responses={
            200: json_reply("serving, DB reachable", HEALTH),
            503: json_reply("serving, DB unreachable", HEALTH),
        },
    ),
    Route(
        "GET",
        "/metrics",
        metrics,
        "Prometheus text exposition",
        auth="none",
        responses={200: Reply("metrics", {"text/plain": {"type": "string"}})},
    ),
    Route(
        "GET",
        "/openapi.json",
        serve_document,
        "this OpenAPI document",
        auth="none",
        responses={200: json_reply("OpenAPI 3.1", {"type": "object"})},
    ),
]
