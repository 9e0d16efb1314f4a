"""From the agents' "who holds it" answers to the `Holders` figures of a run (pure).

Each server process answers with its own groups (`profiling/probes/agent/holders.py`);
a run with several processes gets one list: groups of the same type and chain shape are
summed over the processes, and the chain shown is the one of the process that held the
most of that group. Sizes and counts that do not parse are dropped, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiling.probes.holdersclient import HoldersReply
from profiling.results.model import AllocationSite, HolderGroup, Holders


def _int(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value)


def _group(raw: Mapping[str, Any]) -> HolderGroup | None:
    count, total, median = (_int(raw.get(k)) for k in ("count", "total_bytes", "each_bytes_median"))
    chain = _strings(raw.get("chain"))
    if count is None or total is None or median is None or not chain:
        return None
    return HolderGroup(
        type_name=str(raw.get("type") or chain[0]),
        count=count,
        total_bytes=total,
        each_bytes_median=median,
        chain=chain,
        key=_strings(raw.get("key")) or chain,
        root=str(raw.get("root") or chain[-1]),
        allocated_at=_strings(raw.get("allocated_at")),
    )


def holders_figures(reply: HoldersReply, top: int = 8) -> Holders:
    merged: dict[tuple[str, ...], tuple[HolderGroup, int]] = {}  # key -> (shown, its bytes)
    totals: dict[tuple[str, ...], list[int]] = {}
    sites: dict[str, list[int]] = {}
    scanned, elapsed, truncated = 0, 0.0, False
    for result in reply.results.values():
        scanned += _int(result.get("objects_scanned")) or 0
        took = result.get("elapsed_s")
        elapsed = max(elapsed, float(took) if isinstance(took, int | float) else 0.0)
        truncated = truncated or bool(result.get("truncated"))
        for raw in result.get("groups") or ():
            if not isinstance(raw, dict) or (group := _group(raw)) is None:
                continue
            key = (group.type_name, *group.key)
            sums = totals.setdefault(key, [0, 0])
            sums[0] += group.count
            sums[1] += group.total_bytes
            if key not in merged or group.total_bytes > merged[key][1]:
                merged[key] = (group, group.total_bytes)
        tm = result.get("tracemalloc")
        for site in (tm.get("top_sites") if isinstance(tm, dict) else None) or ():
            size, count = _int(site.get("size_bytes")), _int(site.get("count"))
            if isinstance(site.get("site"), str) and size is not None and count is not None:
                entry = sites.setdefault(site["site"], [0, 0])
                entry[0] += size
                entry[1] += count
    groups = []
    for key, (shown, _) in merged.items():
        count, total = totals[key]
        groups.append(
            HolderGroup(
                shown.type_name,
                count,
                total,
                shown.each_bytes_median,
                shown.chain,
                shown.key,
                shown.root,
                shown.allocated_at,
            )
        )
    groups.sort(key=lambda g: (-g.total_bytes, g.chain))
    ranked_sites = sorted(sites.items(), key=lambda item: (-item[1][0], item[0]))
    return Holders(
        groups=tuple(groups[:top]),
        top_sites=tuple(
            AllocationSite(site, size, count, "tracemalloc")
            for site, (size, count) in ranked_sites[:15]
        ),
        processes=len(reply.results),
        missing_pids=reply.missing,
        objects_scanned=scanned,
        elapsed_s=round(elapsed, 3),
        truncated=truncated,
    )
