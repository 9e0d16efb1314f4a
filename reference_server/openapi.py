"""The route table's own types, and the OpenAPI 3.1 document built from it.

Every route is a `Route` that carries, next to its handler, what the document says about
it (summary, query parameters, request body, responses), so the served document
(`GET /openapi.json`) cannot drift from the router: `register(app, routes)` adds the
handlers and remembers the table, and `serve_document` renders whatever was registered.
Admin-only routes (`/debug/*`) are in the document only for a request that carries the
admin token, as they are absent from the server for everyone else.

Error responses are always `{"error", "detail"}` (errors.py); 401 on every route that
needs a user's token and 405 on every path are added here, not written per route.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]
Auth = Literal["none", "user", "admin"]

ERROR: Schema = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter (path parameters come from the path itself)."""

    name: str
    schema: Schema
    description: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented response: `content` maps a media type to its schema (None: no body)."""

    description: str
    content: Mapping[str, Schema] | None = None


def json_reply(description: str, schema: Schema) -> Reply:
    return Reply(description, {JSON_TYPE: schema})


def error(description: str) -> Reply:
    return json_reply(description, ERROR)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    responses: Mapping[int, Reply]
    auth: Auth = "user"
    query: tuple[Param, ...] = ()
    body: Mapping[str, Schema] | None = None  # media type -> schema
    body_required: bool = True
    tags: tuple[str, ...] = field(default=())


ROUTE_TABLE = web.AppKey("route_table", list[Route])
ADMIN_TOKEN = web.AppKey("openapi_admin_token", str)


def register(app: web.Application, routes: Sequence[Route], *, any_method: bool = False) -> None:
    """Add `routes` to the router and to the table the document is built from.

    `any_method` registers the handler for every method (the /debug guard answers 404
    before it looks at the method, so a wrong method does not reveal the route).
    """
    table = app.get(ROUTE_TABLE)
    if table is None:
        table = app[ROUTE_TABLE] = []
    for route in routes:
        app.router.add_route("*" if any_method else route.method, route.path, route.handler)
        table.append(route)


def _path_params(path: str) -> list[Schema]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "a task id (32 hex digits); anything else answers 404",
        }
        for name in names
    ]


def _reply(reply: Reply) -> Schema:
    out: Schema = {"description": reply.description}
    if reply.content is not None:
        out["content"] = {kind: {"schema": schema} for kind, schema in reply.content.items()}
    return out


def _operation(route: Route) -> Schema:
    responses = dict(route.responses)
    if route.auth == "user":
        responses.setdefault(401, error("missing or unknown bearer token"))
    if route.auth == "admin":
        responses.setdefault(404, error("no admin token configured, or another token"))
    responses.setdefault(405, error("method not allowed on this path"))
    if route.path.startswith("/api/"):
        # Every API route may need the DB (memory-first and lean polls of live tasks not).
        responses.setdefault(503, error("the database is unreachable: retry after Retry-After"))
    op: Schema = {
        "operationId": route.method.lower() + re.sub(r"[^a-z0-9]+", "_", route.path),
        "summary": route.summary,
        "responses": {str(code): _reply(r) for code, r in sorted(responses.items())},
    }
    if route.tags:
        op["tags"] = list(route.tags)
    params = _path_params(route.path) + [
        {"name": p.name, "in": "query", "required": False, "schema": p.schema}
        | ({"description": p.description} if p.description else {})
        for p in route.query
    ]
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": route.body_required,
            "content": {kind: {"schema": schema} for kind, schema in route.body.items()},
        }
    op["security"] = [{"bearer": []}] if route.auth != "none" else []
    return op


def document(routes: Sequence[Route], *, admin: bool = False) -> Schema:
    """The OpenAPI 3.1 document for `routes` (admin-only ones only when `admin`)."""
    paths: dict[str, Schema] = {}
    for route in routes:
        if route.auth == "admin" and not admin:
            continue
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "memdiag reference server",
            "version": "1",
            "description": "A polled transcription backend; the design is chosen at start "
            "(--mode). Errors are JSON {error, detail}.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR},
        },
    }


async def serve_document(request: web.Request) -> web.Response:
    token = request.app.get(ADMIN_TOKEN)
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    admin = bool(token) and hmac.compare_digest(given, f"Bearer {token}".encode())
    routes: list[Route] = request.app.get(ROUTE_TABLE) or []
    return web.json_response(document(routes, admin=admin))
