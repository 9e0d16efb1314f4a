"""The report's "Who holds it" section: per configuration, the largest groups of live
objects and the chain that holds them; across configurations, the groups side by side.

Pure: Comparison in, rows for the templates out. Groups are matched across
configurations by object type and chain shape (the chain without dict keys or list
indexes), like the heap diff matches allocation sites, so "200 `bytes` held by
RequestHandler.start's `resp`" in one design lines up with the same holder in another.
"""

from __future__ import annotations

from typing import Any

from profiling.numbers import bytes_fixed, signed
from profiling.results.folder import HolderGroup, RunResult
from profiling.verdict.compare import Comparison

__all__ = ["holder_diff", "holder_sections"]


def group_headline(g: HolderGroup) -> str:
    """ "221.0 MiB in 200 `bytes` of 1.1 MiB" """
    each = f" of {bytes_fixed(g.each_bytes_median)}" if g.count > 1 else ""
    return f"{bytes_fixed(g.total_bytes)} in {g.count} `{g.type_name}`{each}"


def held_by(g: HolderGroup) -> str:
    """The chain from the object up; where it did not reach a root, why it stopped."""
    hops = list(g.chain[1:])
    if g.root and (not hops or hops[-1] != g.root):
        hops.append(f"({g.root})")
    return " <- ".join(hops) or "(nothing found)"


def _runs(c: Comparison) -> list[tuple[str, RunResult]]:
    return [(conf.name, r) for conf in c.configurations for r in conf.attribution if r.holders]


def holder_sections(c: Comparison) -> list[dict[str, Any]]:
    sections = []
    for name, r in _runs(c):
        h = r.holders
        assert h is not None
        notes = []
        if h.missing_pids:
            notes.append("no answer from server process(es) " + ", ".join(map(str, h.missing_pids)))
        if h.truncated:
            notes.append("a walk was cut by its time budget: the chains may stop short")
        sections.append(
            {
                "configuration": name,
                "run": r.repeat,
                "about": f"{h.processes} process(es), {h.objects_scanned:,} objects scanned,"
                f" slowest walk {h.elapsed_s:.1f} s",
                "notes": notes,
                "groups": [
                    {
                        "headline": group_headline(g),
                        "held_by": held_by(g),
                        "allocated_at": ", ".join(g.allocated_at[:2]),
                    }
                    for g in h.groups
                ],
            }
        )
    return sections


def holder_diff(c: Comparison) -> dict[str, Any] | None:
    """Every group any configuration reported, with each configuration's bytes (and the
    change against the first one); None unless two configurations have holders."""
    runs = _runs(c)
    names = list(dict.fromkeys(name for name, _ in runs))
    if len(names) < 2:
        return None
    by_key: dict[tuple[str, ...], dict[str, HolderGroup]] = {}
    for name, r in runs:
        assert r.holders is not None
        for g in r.holders.groups:
            by_key.setdefault((g.type_name, *g.key), {}).setdefault(name, g)
    rows = []
    for groups in by_key.values():
        shown = max(groups.values(), key=lambda g: g.total_bytes)
        base = groups.get(names[0])
        cells = []
        for name in names:
            found = groups.get(name)
            total = found.total_bytes if found else 0
            cell = f"{bytes_fixed(total)} ({found.count})" if found else "-"
            if name != names[0]:
                delta = total - (base.total_bytes if base else 0)
                cell += f" {signed(bytes_fixed, delta)}"
            cells.append(cell)
        rows.append(
            {
                "what": f"`{shown.type_name}` held by {held_by(shown)}",
                "cells": cells,
                "order": -shown.total_bytes,
            }
        )
    rows.sort(key=lambda row: (row["order"], row["what"]))
    return {"names": names, "rows": rows}
