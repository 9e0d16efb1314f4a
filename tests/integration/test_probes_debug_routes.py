"""The admin-only /debug routes on a tiny aiohttp app: hidden without the exact token."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from reference_server.debug import parse_malloc_info, setup_debug

TOKEN = "admin-secret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def make_app(token: str | None) -> web.Application:
    app = web.Application()
    setup_debug(app, token)
    return app


@pytest.fixture(autouse=True)
def _no_tracing_left() -> Iterator[None]:
    yield
    tracemalloc.stop()  # tracing would slow every later test in this process


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
async def test_routes_are_404_without_exact_token(
    aiohttp_client: Any, headers: dict[str, str]
) -> None:
    client = await aiohttp_client(make_app(TOKEN))
    for method, path in [
        ("GET", "/debug/memory"),
        ("POST", "/debug/malloc-trim"),
        ("GET", "/debug/malloc-trim"),
    ]:
        resp = await client.request(method, path, headers=headers)
        assert resp.status == 404, (method, path)


async def test_no_admin_token_means_no_routes(aiohttp_client: Any) -> None:
    client = await aiohttp_client(make_app(None))
    resp = await client.get("/debug/memory", headers={"Authorization": "Bearer None"})
    assert resp.status == 404
    resp = await client.get("/debug/memory", headers={"Authorization": "Bearer "})
    assert resp.status == 404


async def test_memory_summary_and_malloc_trim(aiohttp_client: Any) -> None:
    client = await aiohttp_client(make_app(TOKEN))
    resp = await client.get("/debug/memory", headers=ADMIN)
    assert resp.status == 200
    body = await resp.json()
    assert body["rss_bytes"] > 0 and body["peak_rss_bytes"] >= body["rss_bytes"]
    assert body["allocator"] == "glibc"
    assert body["malloc_arenas"] >= 1
    assert body["heap_in_use_bytes"] > 0
    assert body["rss_minus_heap_bytes"] == body["rss_bytes"] - body["heap_in_use_bytes"]
    assert body["tracemalloc"]["tracing"] is False
    assert len(body["gc"]["collections"]) == 3

    resp = await client.post("/debug/malloc-trim", headers=ADMIN)
    trim = await resp.json()
    assert resp.status == 200
    assert trim["returned_bytes"] == trim["rss_before_bytes"] - trim["rss_after_bytes"]
    assert isinstance(trim["released"], bool)


async def test_tracemalloc_start_snapshot_reset(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(make_app(TOKEN))
    resp = await client.post(
        "/debug/tracemalloc/snapshot", headers=ADMIN, json={"path": str(tmp_path / "x")}
    )
    assert resp.status == 409
    resp = await client.post("/debug/tracemalloc/start", headers=ADMIN, json={"frames": 0})
    assert resp.status == 400
    resp = await client.post("/debug/tracemalloc/start", headers=ADMIN, json={"frames": 7})
    assert (await resp.json())["frames"] == 7
    assert tracemalloc.is_tracing()

    keep = [bytes(1000) for _ in range(2000)]  # 2 MB to show up in the peak
    del keep
    resp = await client.post("/debug/tracemalloc/reset-peak", headers=ADMIN)
    body = await resp.json()
    assert body["previous_peak_bytes"] > body["traced_peak_bytes"]

    target = tmp_path / "sub" / "after.tracemalloc"
    resp = await client.post(
        "/debug/tracemalloc/snapshot", headers=ADMIN, json={"path": str(target)}
    )
    assert resp.status == 200
    info = await resp.json()
    snap = tracemalloc.Snapshot.load(str(target))
    assert snap.traceback_limit == 7 == info["frames"]
    assert len(snap.traces) == info["traces"] > 0

    resp = await client.post("/debug/tracemalloc/snapshot", headers=ADMIN, json={"nope": 1})
    assert resp.status == 400
    assert (await resp.json())["error"] == "bad_request"
    resp = await client.post("/debug/tracemalloc/stop", headers=ADMIN)
    assert (await resp.json())["tracing"] is False


def test_parse_malloc_info() -> None:
    xml = (
        '<malloc version="1"><heap nr="0"><sizes/></heap><heap nr="1"><sizes/></heap>'
        '<total type="fast" count="0" size="0"/><system type="current" size="5000"/>'
        '<system type="max" size="9000"/><aspace type="total" size="5000"/></malloc>'
    )
    assert parse_malloc_info(xml) == {
        "arenas": 2,
        "system_current_bytes": 5000,
        "system_max_bytes": 9000,
        "aspace_total_bytes": 5000,
    }
