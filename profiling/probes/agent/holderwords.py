"""How an object is held, in words: one referrer hop, and a whole chain up to its root.

Part of the in-process agent (stdlib only, imported beside `holders` from the agent
folder): `holders.find_holders` finds the chains, this module says them. A hop is
described twice: the words a reader gets ("key 'abc' of dict", "attribute `_body` of
aiohttp.web_response.Response", "local `resp` of coroutine ...RequestHandler.start") and
a shape without what differs between objects held the same way (which key, which
index), by which chains are grouped.
"""

from __future__ import annotations

import gc
import os
import types
from typing import Any

SUSPENDED = (types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType)


def type_name(obj: object) -> str:
    t = type(obj)
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


def _module_label(name: str, namespace: dict[str, Any]) -> str:
    # A script's module is `__main__` for every script: its file says which one.
    if name == "__main__" and isinstance(namespace.get("__file__"), str):
        return f"__main__ ({os.path.basename(namespace['__file__'])})"
    return name


def _code_label(frame: types.FrameType | None, qualname: str) -> str:
    mod = frame.f_globals.get("__name__") if frame is not None else None
    return f"{mod}.{qualname}" if isinstance(mod, str) else qualname


def frame_of(obj: object) -> types.FrameType | None:
    for attr in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(obj, attr, None)
        if isinstance(frame, types.FrameType):
            return frame
    return None


def _same(value: object, child: object) -> bool:
    return value is child or (
        isinstance(value, types.CellType) is False
        and isinstance(child, types.CellType)
        and _cell_value(child) is value
    )


def _cell_value(cell: types.CellType) -> object:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _local_name(frame: types.FrameType | None, child: object) -> str | None:
    if frame is None:
        return None
    try:
        items = list(frame.f_locals.items())
    except Exception:  # a frame being torn down; the hop is still named
        return None
    return next((name for name, value in items if _same(value, child)), None)


def _instance_attribute(owner: object, child: object) -> str | None:
    """The name under which `owner` holds `child`: its __dict__ or a __slots__ slot."""
    try:
        namespace = object.__getattribute__(owner, "__dict__")
    except (AttributeError, TypeError):
        namespace = None
    if isinstance(namespace, dict):
        for key, value in list(namespace.items()):
            if value is child:
                return str(key)
    for cls in type(owner).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            descriptor = cls.__dict__.get(name)
            if isinstance(descriptor, types.MemberDescriptorType):
                try:
                    if descriptor.__get__(owner, cls) is child:
                        return str(name)
                except AttributeError:  # an empty slot
                    continue
    return None


def _key_text(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_hop(child: object, parent: object, modules: dict[int, str]) -> tuple[str, str]:
    """How `parent` holds `child`, in words: (the text, the shape used to group chains).

    The shape leaves out what differs between objects held the same way (which key of a
    dict, which item of a list), so 200 bodies kept under 200 keys group as one."""
    if isinstance(parent, dict):
        key = next((k for k, v in list(parent.items()) if v is child), _MISSING)
        if id(parent) in modules:
            mod = _module_label(modules[id(parent)], parent)
            text = f"module-level `{key}` in `{mod}`"
            return text, text
        if key is _MISSING:
            if any(k is child for k in list(parent)):
                return "a key of dict", "a key of dict"
            return "value of dict", "value of dict"
        return f"key {_key_text(key)} of dict", "value of dict"
    if isinstance(parent, list | tuple):
        kind = type(parent).__name__
        index = next((i for i, v in enumerate(parent) if v is child), None)
        return (f"item {index} of {kind}" if index is not None else f"item of {kind}"), (
            f"item of {kind}"
        )
    if isinstance(parent, set | frozenset):
        return f"member of {type(parent).__name__}", f"member of {type(parent).__name__}"
    if isinstance(parent, SUSPENDED):
        kind = {types.CoroutineType: "coroutine", types.GeneratorType: "generator"}.get(
            type(parent), "async generator"
        )
        frame = frame_of(parent)
        where = f"{kind} {_code_label(frame, getattr(parent, '__qualname__', '?'))}"
        name = _local_name(frame, child)
        text = f"local `{name}` of {where}" if name else f"a value in flight in {where}"
        return text, text
    if isinstance(parent, types.FrameType):
        where = f"function {_code_label(parent, parent.f_code.co_qualname)}"
        thread = THREAD_OF.get(id(parent))
        where += f" (thread {thread})" if thread else ""
        name = _local_name(parent, child)
        text = f"local `{name}` of {where}" if name else f"a value in flight in {where}"
        return text, text
    if isinstance(parent, type):
        key = next((k for k, v in list(parent.__dict__.items()) if v is child), None)
        label = f"{parent.__module__}.{parent.__qualname__}"
        text = f"class attribute `{key}` of {label}" if key else f"held by class {label}"
        return text, text
    if isinstance(parent, types.ModuleType):
        text = f"module-level `{_instance_attribute(parent, child)}` in `{parent.__name__}`"
        return text, text
    if isinstance(parent, types.CellType):
        return "closure cell", "closure cell"
    if isinstance(parent, types.FunctionType):
        label = _code_label(None, f"{parent.__module__}.{parent.__qualname__}")
        return f"referenced by function {label}", f"referenced by function {label}"
    if isinstance(parent, types.MethodType):
        text = f"`__self__` of bound method {parent.__qualname__}"
        return text, text
    if type(parent).__name__ == "managedbuffer" or isinstance(parent, memoryview):
        return "buffer exported to a memoryview", "buffer exported to a memoryview"
    attr = _instance_attribute(parent, child)
    label = type_name(parent)
    text = f"attribute `{attr}` of {label}" if attr else f"referenced by {label}"
    return text, text


_MISSING = object()
THREAD_OF: dict[int, str] = {}  # id(frame) -> thread name, for the walk under way


def _owns_namespace(owner: object, namespace: dict[Any, Any]) -> bool:
    """Whether `namespace` is `owner`'s attribute dict (so the dict is no hop of its own)."""
    if isinstance(owner, type):
        return any(r is namespace for r in gc.get_referents(owner))
    try:
        return object.__getattribute__(owner, "__dict__") is namespace
    except (AttributeError, TypeError):
        return False


_ENDS = {
    "untracked": "no tracked referrer (held from C code or by an object gc does not track)",
    "depth": "walk stopped at max_depth",
    "budget": "walk cut by the time budget",
    "cycle": "held only within a reference cycle",
}


def describe_chain(nodes: list[object], end: str, modules: dict[int, str]) -> dict[str, Any]:
    """The chain's words (type first), its grouping shape and its root, for one object."""
    texts, shapes = [type_name(nodes[0])], [type_name(nodes[0])]
    i = 0
    while i + 1 < len(nodes):
        child, parent = nodes[i], nodes[i + 1]
        owner = nodes[i + 2] if i + 2 < len(nodes) else None
        if (
            isinstance(parent, dict)
            and owner is not None
            and id(parent) not in modules
            and _owns_namespace(owner, parent)
        ):
            # An instance's (or class's) __dict__: one hop, "attribute `x` of Class".
            key = next((k for k, v in list(parent.items()) if v is child), "?")
            if isinstance(owner, types.ModuleType):
                text = f"module-level `{key}` in `{_module_label(owner.__name__, parent)}`"
            elif isinstance(owner, type):
                text = f"class attribute `{key}` of {owner.__module__}.{owner.__qualname__}"
            else:
                text = f"attribute `{key}` of {type_name(owner)}"
            texts.append(text)
            shapes.append(text)
            i += 2
            continue
        text, shape = describe_hop(child, parent, modules)
        texts.append(text)
        shapes.append(shape)
        i += 1
    root = texts[-1] if end == "root" and len(texts) > 1 else _ENDS.get(end, end)
    return {"chain": texts, "key": shapes, "root": root, "root_kind": end}
