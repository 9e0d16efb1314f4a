"""HTTP handlers (thin: parse, authenticate, call the task service) and the route table."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from reference_server.errors import BadRequest
from reference_server.state import AUTH, METRICS, SERVICE, SETTINGS, STORE
from reference_server.uploads import create_upload_task

JSON = "application/json"


def _json_bytes(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
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
    body = await _json_body(request)
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
        body = await _json_body(request)
        if "synthetic" not in body:
            raise BadRequest('expected {"synthetic": {...}} or a multipart upload in field "file"')
        task_id = await service.create_synthetic(user_id, body["synthetic"])
    return web.json_response({"task_id": task_id}, status=202)


async def task_status(request: web.Request) -> web.Response:
    figures = request.app[METRICS].status
    figures.started()
    try:
        user_id = await request.app[AUTH].user_id(request)
        body = await request.app[SERVICE].status(request.match_info["task_id"], user_id)
        return _json_bytes(body)
    finally:
        figures.ended()


async def task_segments(request: web.Request) -> web.Response:
    user_id = await request.app[AUTH].user_id(request)
    offset = _int_query(request, "offset", 0, 0, 10**9)
    limit = _int_query(request, "limit", 100, 1, 1000)
    body = await request.app[SERVICE].segments(
        request.match_info["task_id"], user_id, offset, limit
    )
    return _json_bytes(body)


async def list_tasks(request: web.Request) -> web.Response:
    user_id = await request.app[AUTH].user_id(request)
    return _json_bytes(await request.app[SERVICE].list_tasks(user_id))


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
    try:
        await asyncio.wait_for(request.app[STORE].ping(), 5.0)
    except Exception as exc:
        return web.json_response({"status": "degraded", "db": f"error: {exc}", **info}, status=503)
    return web.json_response({"status": "ok", "db": "ok", **info})


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    live = request.app[SERVICE].live
    m.live_tasks.set(live.live_count())
    for structure, count in live.sizes().items():
        m.live_entries.labels(structure).set(count)
    return web.Response(body=m.render(), headers={"Content-Type": "text/plain; version=0.0.4"})


ROUTES = [
    web.post("/api/users", create_user),
    web.post("/api/tasks", create_task),
    web.get("/api/tasks", list_tasks),
    web.get("/api/tasks/{task_id}", task_status),
    web.get("/api/tasks/{task_id}/segments", task_segments),
    web.post("/api/tasks/{task_id}/cancel", cancel_task),
    web.delete("/api/tasks/{task_id}", delete_task),
    web.get("/healthz", healthz),
    web.get("/metrics", metrics),
]
