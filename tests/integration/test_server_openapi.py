"""GET /openapi.json is built from the route table: every route of the app's router is in
it and nothing else, and the /debug routes show only to the admin token."""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs

from reference_server.app import create_app
from reference_server.settings import parse_settings

ADMIN = "openapi-admin-token"


def router_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the router answers, HEAD-for-GET left out."""
    out = set()
    for route in app.router.routes():
        if route.method == hdrs.METH_HEAD:
            continue
        out.add((route.method, route.resource.canonical))
    return out


def document_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}


async def test_document_matches_the_router(aiohttp_client, mongo_uri, database_name):
    settings = parse_settings(
        ["--mongo-uri", mongo_uri, "--database", database_name, "--admin-token", ADMIN]
    )
    app = create_app(settings)
    routed = router_routes(app)
    client = await aiohttp_client(app)

    resp = await client.get("/openapi.json", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    documented = document_routes(doc)
    # /debug routes take any method (the guard answers 404 first): match them by path.
    any_method = {path for method, path in routed if method == "*"}
    assert any_method and all(p.startswith("/debug/") for p in any_method)
    assert {(m, p) for m, p in routed if m != "*"} == {
        (m, p) for m, p in documented if p not in any_method
    }
    assert {p for _, p in documented if p.startswith("/debug/")} == any_method
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (method, path)
            assert "405" in op["responses"], (method, path)
            if op["security"]:
                assert "401" in op["responses"] or path.startswith("/debug/"), (method, path)

    # Without the admin token the /debug routes are not in the document either.
    for headers in ({}, {"Authorization": "Bearer someone-else"}, {"Authorization": ADMIN}):
        resp = await client.get("/openapi.json", headers=headers)
        doc = await resp.json()
        assert not [p for p in doc["paths"] if p.startswith("/debug")], headers
        assert "/api/tasks/{task_id}" in doc["paths"]


async def test_no_admin_token_means_no_debug_routes_anywhere(
    aiohttp_client, mongo_uri, database_name
):
    app = create_app(parse_settings(["--mongo-uri", mongo_uri, "--database", database_name]))
    assert not [p for _, p in router_routes(app) if p.startswith("/debug")]
    client = await aiohttp_client(app)
    doc = await (await client.get("/openapi.json")).json()
    assert document_routes(doc) == router_routes(app)
