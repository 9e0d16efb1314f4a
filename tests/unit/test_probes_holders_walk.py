"""The pure parts of the holders walk: hops in words, chains grouped by shape, the budget."""

from __future__ import annotations

import asyncio
import json
import sys
import types
from typing import Any

from profiling.probes.agent import holders
from profiling.probes.agent.holders import find_holders
from profiling.probes.agent.holderwords import describe_chain, describe_hop

MODULES: dict[int, str] = {}


class Box:
    def __init__(self, payload: object) -> None:
        self.payload = payload


class Slotted:
    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body


def test_hops_in_words() -> None:
    leaf = b"x" * 10
    assert describe_hop(leaf, {"abc": leaf}, MODULES) == ("key 'abc' of dict", "value of dict")
    assert describe_hop(leaf, [1, 2, 3, leaf], MODULES) == ("item 3 of list", "item of list")
    assert describe_hop(leaf, (leaf,), MODULES)[0] == "item 0 of tuple"
    assert describe_hop(leaf, Slotted(leaf), MODULES)[0] == (
        f"attribute `_body` of {__name__}.Slotted"
    )
    assert describe_hop(leaf, Box(leaf), MODULES)[0] == f"attribute `payload` of {__name__}.Box"


def test_a_module_global_is_a_root_named_by_module() -> None:
    mod = types.ModuleType("pkg.mod")
    mod.LAST_BODY = {}  # type: ignore[attr-defined]
    modules = {id(mod.__dict__): "pkg.mod"}
    text, shape = describe_hop(mod.LAST_BODY, mod.__dict__, modules)  # type: ignore[attr-defined]
    assert text == shape == "module-level `LAST_BODY` in `pkg.mod`"


def test_a_coroutine_local_is_named() -> None:
    async def handler() -> None:
        resp = Box(b"y")
        await asyncio.sleep(0)
        del resp

    coro = handler()
    coro.send(None)  # suspended at the sleep, `resp` bound
    try:
        resp = coro.cr_frame.f_locals["resp"]
        text, _ = describe_hop(resp, coro, MODULES)
        assert text == (
            f"local `resp` of coroutine {__name__}.test_a_coroutine_local_is_named.<locals>.handler"
        )
    finally:
        coro.close()


def test_chains_that_differ_by_key_share_a_shape() -> None:
    outer: dict[str, Any] = {}
    store = {1: b"a" * 5, 2: b"b" * 5}
    outer["store"] = store
    first = describe_chain([store[1], store, outer], "depth", MODULES)
    second = describe_chain([store[2], store, outer], "depth", MODULES)
    assert first["chain"][1] == "key 1 of dict"
    assert second["chain"][1] == "key 2 of dict"
    assert first["key"] == second["key"]  # grouped together
    assert first["root"] == "walk stopped at max_depth"


def test_an_instance_dict_is_one_hop() -> None:
    box = Box(b"z" * 5)
    namespace = vars(box)
    described = describe_chain([box.payload, namespace, box], "untracked", MODULES)
    assert described["chain"] == ["bytes", f"attribute `payload` of {__name__}.Box"]


PLANTED: dict[str, list[bytes]] = {}


def test_find_holders_groups_and_names_a_module_global() -> None:
    PLANTED["bodies"] = [bytes(200_000) + bytes([i]) for i in range(4)]
    try:
        result = find_holders(min_bytes=100_000, budget_s=60.0)
    finally:
        PLANTED.clear()
    found = [g for g in result["groups"] if "PLANTED" in g["root"]]
    assert len(found) == 1, result["groups"]
    group = found[0]
    assert (group["type"], group["count"]) == ("bytes", 4)
    assert group["total_bytes"] == 4 * sys.getsizeof(bytes(200_001))
    assert group["chain"][1].startswith("item ") and group["chain"][1].endswith(" of list")
    assert group["chain"][2:] == ["key 'bodies' of dict", f"module-level `PLANTED` in `{__name__}`"]
    assert result["truncated"] is False


def test_the_budget_cuts_the_walk() -> None:
    result = find_holders(budget_s=0.0)
    assert result["truncated"] is True
    assert result["truncated_at"] == "scan"
    assert result["groups"] == []


def test_the_result_is_json() -> None:
    assert json.loads(json.dumps(find_holders(budget_s=30.0)))["schema_version"] == 1
    assert holders.SCHEMA_VERSION == 1


def test_a_memoryview_of_a_counted_buffer_is_not_counted_twice() -> None:
    # db-polling's drivers hold memoryviews over reply buffers; the walk must take them
    # (it once raised a TypeError on `tuple | type` here) and count the buffer once.
    body = bytes(300_000) + b"\x01"
    PLANTED["views"] = [memoryview(body), body]
    del body  # held by PLANTED alone, not by this frame too
    try:
        result = find_holders(min_bytes=100_000, budget_s=60.0)
    finally:
        PLANTED.clear()
    found = [g for g in result["groups"] if "PLANTED" in g["root"]]
    assert sum(g["count"] for g in found) == 1, found
    assert found[0]["type"] == "bytes"
