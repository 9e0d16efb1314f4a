"""Who holds it: the largest live objects of this process and the chain that keeps each alive.

This module runs inside the server under test (the in-process agent imports it from the
agent folder on PYTHONPATH), so it uses the standard library only and imports nothing
from memdiag. `find_holders()` answers "what holds these MiB" the way a Java heap
analyser's "path to GC root" does:

1. scan every gc-tracked object once: large containers by their own `sys.getsizeof`,
   and large leaf buffers (bytes, bytearray, str: not gc-tracked, so found as the
   referents of tracked containers; memoryview exports; array.array);
2. walk referrers upwards from all of them at once, breadth first, one pass over the
   heap per level (`gc.get_referrers` with many targets is quadratic in C, a set lookup
   per edge is not), until each chain reaches a root: a module's globals, a local of a
   suspended coroutine or generator, a local of a thread's running frame, a class;
3. describe every hop in words ("attribute `_body` of aiohttp.web_response.Response"),
   group the objects by type and the shape of their chain, and give the top groups by
   total bytes, each with the chain of one representative.

Everything is bounded by `budget_s`; a walk cut short says `truncated: true`. When
tracemalloc is tracing, the top allocation sites (this module's own frames filtered
out) and each representative's allocation traceback come with it.
"""

from __future__ import annotations

import array
import contextlib
import gc
import operator
import os
import sys
import threading
import time
import tracemalloc
import types
from collections.abc import Iterable, Iterator
from itertools import compress, repeat
from typing import Any

if __package__:  # memdiag's own code and tests: profiling.probes.agent.holders
    from . import holderwords
else:  # the agent: its folder on sys.path
    import holderwords  # type: ignore[import-not-found,no-redef]

SCHEMA_VERSION = 1
_LEAVES = (bytes, bytearray, str)  # not gc-tracked: found as referents of tracked objects
_LEAF_SET = frozenset(_LEAVES)
_SUSPENDED = holderwords.SUSPENDED
_CHECK_EVERY = 4096  # objects between two looks at the clock


class _Budget:
    """The walk's deadline; once passed, every stage stops and says it was cut."""

    def __init__(self, budget_s: float) -> None:
        self.deadline_s = time.perf_counter() + budget_s
        self.cut_at: str | None = None

    def out(self, stage: str) -> bool:
        if self.cut_at is None and time.perf_counter() > self.deadline_s:
            self.cut_at = stage
        return self.cut_at is not None


def _module_dicts() -> dict[int, str]:
    """id(module.__dict__) -> the module's name, for every imported module."""
    out = {}
    for name, mod in list(sys.modules.items()):
        d = getattr(mod, "__dict__", None)
        if isinstance(d, dict):
            out[id(d)] = name
    return out


def _is_own(obj: object) -> bool:
    """A frame or suspended coroutine of this module (the walk itself)."""
    if isinstance(obj, types.FrameType):
        return obj.f_globals is globals()
    if isinstance(obj, _SUSPENDED):
        frame = holderwords.frame_of(obj)
        return frame is not None and frame.f_globals is globals()
    return False


def _is_root(obj: object, modules: dict[int, str]) -> bool:
    return (isinstance(obj, dict) and id(obj) in modules) or isinstance(
        obj, (*_SUSPENDED, types.FrameType, type, types.ModuleType)
    )


def _sizes_at_least(items: list[Any], min_bytes: int) -> list[Any]:
    """The items of `items` of at least `min_bytes` by sys.getsizeof, filtered in C (the
    heap's millions of referents never pass through a Python loop)."""
    try:
        return list(compress(items, map(min_bytes.__le__, map(sys.getsizeof, items))))
    except Exception:  # a broken __sizeof__ somewhere in `items`: one at a time
        out = []
        for item in items:
            with contextlib.suppress(Exception):
                if sys.getsizeof(item) >= min_bytes:
                    out.append(item)
        return out


def _of_type(items: list[Any], kind: type) -> Iterator[Any]:
    return compress(items, map(operator.is_, map(type, items), repeat(kind)))


def _untracked(items: list[Any]) -> list[Any]:
    """The dicts and tuples among `items` that gc does not track."""
    out: list[Any] = []
    for kind in (dict, tuple):
        boxes = list(_of_type(items, kind))
        out += compress(boxes, map(operator.not_, map(gc.is_tracked, boxes)))
    return out


def _large_objects(
    objs: list[object], min_bytes: int, own: set[int], budget: _Budget
) -> dict[int, tuple[object, int]]:
    """id -> (object, bytes) of every object of at least `min_bytes`.

    CPython stops tracking a dict or tuple that holds only untracked values (a module's
    `LAST = {1: b"..."}` is invisible to gc). Those met as referents that hold something
    large are appended to `objs`, so that the walk offers them as holders."""
    found: dict[int, tuple[object, int]] = {}
    seen_untracked: set[int] = set()
    start, end = 0, len(objs)
    while start < end:
        if budget.out("scan"):
            break
        chunk = objs[start : min(end, start + _CHECK_EVERY)]
        start += len(chunk)
        for o in _sizes_at_least(chunk, min_bytes):
            if id(o) not in own and not isinstance(o, types.FrameType):
                found[id(o)] = (o, sys.getsizeof(o))
        for view in _of_type(chunk, memoryview):
            if (size := _export_bytes(view)) >= min_bytes:
                found[id(view)] = (view, size)
        refs = gc.get_referents(*chunk)  # one C call: all that the chunk refers to
        del chunk
        _leaves(refs, min_bytes, found)
        boxes = _untracked(refs)
        del refs
        objs.extend(_untracked_holders(boxes, min_bytes, found, seen_untracked))
    return found


def _leaves(refs: list[Any], min_bytes: int, found: dict[int, tuple[object, int]]) -> None:
    # Type first, in C: under tracemalloc every int that getsizeof returns for the heap's
    # millions of small atoms would be an allocation traced.
    candidates = list(compress(refs, map(_LEAF_SET.__contains__, map(type, refs))))
    for r in _sizes_at_least(candidates, min_bytes):
        if id(r) not in found:
            found[id(r)] = (r, sys.getsizeof(r))


def _untracked_holders(
    boxes: list[Any], min_bytes: int, found: dict[int, tuple[object, int]], seen: set[int]
) -> list[object]:
    """The untracked dicts and tuples among `boxes` (and nested in them) that hold a large
    object or another untracked box; the common case (a dict of small atoms) costs one
    C call per batch."""
    kept: list[object] = []
    while boxes := [b for b in boxes if id(b) not in seen]:
        seen.update(map(id, boxes))
        inner = gc.get_referents(*boxes)
        nested = _untracked(inner)
        if not nested and not _sizes_at_least(
            list(compress(inner, map(_LEAF_SET.__contains__, map(type, inner)))), min_bytes
        ):
            return kept
        _leaves(inner, min_bytes, found)
        for box in boxes:  # rare: find which boxes hold what
            held = gc.get_referents(box)
            if _sizes_at_least([r for r in held if type(r) in _LEAF_SET], min_bytes) or any(
                type(r) in (dict, tuple) and not gc.is_tracked(r) for r in held
            ):
                kept.append(box)
            if sys.getsizeof(box) >= min_bytes:
                found[id(box)] = (box, sys.getsizeof(box))
        boxes = nested
    return kept


def _export_bytes(view: memoryview) -> int:
    """A memoryview's buffer, unless its exporter is a buffer counted on its own."""
    try:
        if isinstance(view.obj, (*_LEAVES, array.array)):
            return 0
        return int(view.nbytes)
    except ValueError:  # released
        return 0


class _Walk:
    """Breadth-first referrer walk from many objects at once; one parent per object."""

    def __init__(self, objs: list[object], modules: dict[int, str], own: set[int]) -> None:
        self.objs = objs
        self.modules = modules
        self.own = own
        self.parent: dict[int, object] = {}  # id(child) -> the object that holds it
        self.nodes: dict[int, object] = {}  # every object on a chain (keeps them alive)
        self.end: dict[int, str] = {}  # id(node) -> why its chain stops there
        self.thread_locals: list[tuple[types.FrameType, list[object]]] = []

    def run(self, start: Iterable[object], max_depth: int, budget: _Budget) -> None:
        frontier = {id(o): o for o in start}
        self.nodes.update(frontier)
        for _depth in range(max_depth):
            targets = {i for i, o in frontier.items() if not _is_root(o, self.modules)}
            for i in frontier.keys() - targets:
                self.end[i] = "root"
            if not targets:
                return
            if budget.out("walk"):
                for i in targets:
                    self.end[i] = "budget"
                return
            found = self._level(targets, budget)
            frontier = {}
            for i in targets:
                if i not in self.parent:
                    self.end[i] = "budget" if budget.cut_at else "untracked"
            for parent in found.values():
                if id(parent) not in self.nodes:
                    self.nodes[id(parent)] = parent
                    frontier[id(parent)] = parent
        for i, o in frontier.items():
            self.end[i] = "root" if _is_root(o, self.modules) else "depth"

    def _level(self, targets: set[int], budget: _Budget) -> dict[int, object]:
        """One pass over the heap: a holder for every target that has one."""
        chosen: dict[int, object] = {}
        isdisjoint = targets.isdisjoint
        get_referents = gc.get_referents
        for n, o in enumerate(self.objs):
            if not n % _CHECK_EVERY and budget.out("walk"):
                break
            if isdisjoint(map(id, get_referents(o))) or id(o) in self.own or _is_own(o):
                continue
            for r in get_referents(o):
                if id(r) in targets:
                    self._offer(r, o, chosen)
        # Locals of running frames are invisible to gc: look them up by name instead.
        for frame, values in self.thread_locals:
            for value in values:
                if id(value) in targets:
                    self._offer(value, frame, chosen)
        for child_id, parent in chosen.items():
            self.parent[child_id] = parent
        return chosen

    def _offer(self, child: object, parent: object, chosen: dict[int, object]) -> None:
        """Keep the best holder seen so far: a root first, then one already on a chain."""
        if id(parent) == id(child) or self._reaches(parent, id(child)):
            return
        best = chosen.get(id(child))
        if best is None or _rank(parent, self) < _rank(best, self):
            chosen[id(child)] = parent

    def _reaches(self, start: object, target: int) -> bool:
        """Whether `start`'s chain (as far as it is known) passes through `target`."""
        seen = 0
        node = self.parent.get(id(start))
        while node is not None and seen < 64:
            if id(node) == target:
                return True
            node, seen = self.parent.get(id(node)), seen + 1
        return False

    def chain(self, obj: object) -> tuple[list[object], str]:
        nodes, seen = [obj], {id(obj)}
        while (p := self.parent.get(id(nodes[-1]))) is not None and id(p) not in seen:
            nodes.append(p)
            seen.add(id(p))
        return nodes, self.end.get(id(nodes[-1]), "cycle")


def _rank(parent: object, walk: _Walk) -> int:
    if _is_root(parent, walk.modules):
        return 0
    return 1 if id(parent) in walk.nodes else 2


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) // 2


def _thread_frames(walk: _Walk) -> None:
    """Materialise every thread's frames (not this module's) and snapshot their locals."""
    names = {t.ident: t.name for t in threading.enumerate()}
    holderwords.THREAD_OF.clear()
    for ident, top in sys._current_frames().items():
        frame: types.FrameType | None = top
        while frame is not None:
            if frame.f_globals is not globals():
                holderwords.THREAD_OF[id(frame)] = names.get(ident, str(ident))
                try:
                    values = list(frame.f_locals.values())
                except Exception:  # a frame torn down under us
                    values = []
                walk.thread_locals.append((frame, values))
            frame = frame.f_back


def _short_path(filename: str) -> str:
    """A file name relative to the sys.path entry it was imported from."""
    best = ""
    for entry in sys.path:
        prefix = os.path.join(os.path.abspath(entry or "."), "")
        if filename.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return filename[len(best) :] if best else filename


def _tracemalloc_sites(top: int, budget: _Budget) -> list[dict[str, Any]] | None:
    """The top allocation sites by size, from the innermost frame of each trace.

    Not Snapshot.statistics(): its grouping builds a Traceback object per trace (10 s
    for a million traces on a busy machine), and filter_traces runs fnmatch per trace
    (a minute). The raw traces of a snapshot are summed here in one loop instead, and
    this module's own lines are left out of the ranking."""
    snapshot = tracemalloc.take_snapshot()
    raw = getattr(snapshot.traces, "_traces", None)
    if not isinstance(raw, list):  # another Python's internals: the slow public way
        stats = snapshot.statistics("lineno")
        sums = {(s.traceback[0].filename, s.traceback[0].lineno): [s.size, s.count] for s in stats}
    else:
        by_traceback: dict[object, list[int]] = {}
        for n, (_domain, size, traceback, _frames) in enumerate(raw):
            if not n % 65536 and budget.out("tracemalloc"):
                return None  # partial sums would rank the sites wrongly
            entry = by_traceback.get(traceback)
            if entry is None:
                by_traceback[traceback] = [size, 1]
            else:
                entry[0] += size
                entry[1] += 1
        del raw
        sums = {}
        for traceback, (size, count) in by_traceback.items():
            frame = traceback[0] if isinstance(traceback, tuple) and traceback else None
            key = tuple(frame) if isinstance(frame, tuple) else ("<unknown>", 0)
            entry = sums.setdefault(key, [0, 0])
            entry[0] += size
            entry[1] += count
    del snapshot
    own = (__file__, tracemalloc.__file__, "<unknown>")
    ranked = sorted(((v[0], v[1], k) for k, v in sums.items() if k[0] not in own), reverse=True)
    return [
        {"site": f"{_short_path(str(file))}:{line}", "size_bytes": size, "count": count}
        for size, count, (file, line) in ranked[:top]
    ]


def _allocated_at(obj: object) -> list[str] | None:
    tb = tracemalloc.get_object_traceback(obj)
    if tb is None:
        return None
    return [f"{_short_path(f.filename)}:{f.lineno}" for f in reversed(tb)]  # innermost first


def find_holders(
    *,
    min_bytes: int = 65536,
    top: int = 8,
    max_depth: int = 8,
    budget_s: float = 10.0,
    tracemalloc_top: int = 15,
    stop_the_world: bool = True,
) -> dict[str, Any]:
    """The top groups of large live objects by total bytes, each with what holds it.

    JSON-able; see the module docstring for what is scanned and how chains are found.
    With `stop_the_world` (the default) the calling thread keeps the GIL until it is
    done, like a heap dump: in a server under load its event loop thread, busy in long
    C calls (a 1 MB json.dumps), otherwise left the walk a fraction of the CPU (16 s and
    cut by the budget, where it takes 2 s alone), and the heap would change under it."""
    if not stop_the_world:
        return _find_holders(min_bytes, top, max_depth, budget_s, tracemalloc_top)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(max(previous, budget_s + 30.0))
    try:
        return _find_holders(min_bytes, top, max_depth, budget_s, tracemalloc_top)
    finally:
        sys.setswitchinterval(previous)


def _find_holders(
    min_bytes: int, top: int, max_depth: int, budget_s: float, tracemalloc_top: int
) -> dict[str, Any]:
    started = time.perf_counter()
    budget = _Budget(budget_s)
    modules = _module_dicts()
    objs = gc.get_objects()
    own: set[int] = {id(objs), id(modules)}
    walk = _Walk(objs, modules, own)
    own.update((id(walk), id(walk.parent), id(walk.nodes), id(walk.end), id(holderwords.THREAD_OF)))
    own.add(id(walk.thread_locals))
    # After get_objects: the locals snapshots made here are not in `objs`, so they are
    # never mistaken for holders.
    _thread_frames(walk)
    large = _large_objects(objs, min_bytes, own, budget)
    own.add(id(large))
    walk.run((o for o, _ in large.values()), max_depth, budget)
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for obj, size in sorted(large.values(), key=lambda item: -item[1]):
        if budget.out("describe"):
            break
        nodes, end = walk.chain(obj)
        described = holderwords.describe_chain(nodes, end, modules)
        group = groups.setdefault(tuple(described["key"]), {**described, "rep": obj, "sizes": []})
        group["sizes"].append(size)
    ranked = sorted(groups.values(), key=lambda g: -sum(g["sizes"]))[:top]
    tracing = tracemalloc.is_tracing()
    out_groups = []
    for g in ranked:
        entry = {
            "type": g["chain"][0],
            "count": len(g["sizes"]),
            "total_bytes": sum(g["sizes"]),
            "each_bytes_median": _median(g["sizes"]),
            "chain": g["chain"],
            "key": g["key"],
            "root": g["root"],
            "root_kind": g["root_kind"],
        }
        if tracing and (where := _allocated_at(g["rep"])) is not None:
            entry["allocated_at"] = where
        out_groups.append(entry)
    scanned, n_large = len(objs), len(large)
    large_bytes = sum(size for _, size in large.values())
    del ranked, groups, large, walk, objs
    holderwords.THREAD_OF.clear()
    sites: dict[str, Any] = {"tracing": tracing}
    walked_s = time.perf_counter() - started
    if tracing:
        sites["frames"] = tracemalloc.get_traceback_limit()
        # The snapshot copies every trace: skipped when the walk already used the budget.
        top_sites = None
        if not budget.out("tracemalloc") and tracemalloc_top > 0:
            top_sites = _tracemalloc_sites(tracemalloc_top, budget)
        if top_sites is not None:
            sites["top_sites"] = top_sites
    return {
        "schema_version": SCHEMA_VERSION,
        "walk_s": round(walked_s, 3),
        "pid": os.getpid(),
        "args": {
            "min_bytes": min_bytes,
            "top": top,
            "max_depth": max_depth,
            "budget_s": budget_s,
            "tracemalloc_top": tracemalloc_top,
        },
        "groups": out_groups,
        "objects_scanned": scanned,
        "large_objects": n_large,
        "large_bytes": large_bytes,
        "elapsed_s": round(time.perf_counter() - started, 3),
        "truncated": budget.cut_at is not None,
        "truncated_at": budget.cut_at,
        "tracemalloc": sites,
    }
