"""The report's "Processes" table for servers of several processes, and which peak gates.

A server that forks (the reference server's `--server-processes`, gunicorn's workers, an
ffmpeg or diarization child) is sampled as its whole tree. Its peak RSS, the figure the
tables, `memdiag gate` and bisect's `peak_rss` use, is the sum of each process's kernel
high-water mark (VmHWM): each process's own peak, caught by the kernel between samples,
so a worker's spike cannot hide, and a worker's memory counts as the server's. It is an
upper bound of what the tree held at once: processes need not peak together, and a page
they share (after fork, before either writes it) counts once per process. The tree's
summed PSS, sampled (each shared page counted once), is shown beside it as what the tree
held, but it is not gated: a sample can miss a spike that VmHWM keeps. Pure.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from profiling.numbers import bytes_text
from profiling.results.folder import RunResult
from profiling.verdict.compare import Comparison

ROLES = ("main", "child")  # the process memdiag started or attached to, then its tree


def tree_rows(c: Comparison) -> list[dict[str, Any]]:
    """One row per configuration and process role, over the configuration's measured runs
    whose server had several processes: how many such processes a run had, their own
    kernel peaks (median and highest over every run's processes), the median last RSS and
    the command they ran. Each process of each run, pid included, stays in summary.json's
    runs (`server_tree`): with many runs a row per process made the table pages long."""
    rows = []
    for conf in c.configurations:
        runs = [r for r in conf.runs if r.profile == "none" and r.server_tree]
        roles = {p.role for r in runs for p in r.server_tree}
        for role in sorted(roles, key=lambda x: (ROLES.index(x) if x in ROLES else len(ROLES), x)):
            per_run = [[p for p in r.server_tree if p.role == role] for r in runs]
            processes = [p for ps in per_run for p in ps]
            counts = sorted({len(ps) for ps in per_run})
            commands = Counter(p.command for p in processes).most_common()
            others = len(commands) - 1
            peaks = [p.peak_rss_bytes for p in processes]
            rows.append(
                {
                    "configuration": conf.name,
                    "role": role,
                    "processes": str(counts[0]) if len(counts) == 1 else
                                 f"{counts[0]} to {counts[-1]}",
                    "runs": len(runs),
                    "peak_median": bytes_text(statistics.median(peaks)),
                    "peak_max": bytes_text(max(peaks)),
                    "rss_median": bytes_text(statistics.median(p.rss_bytes for p in processes)),
                    "command": commands[0][0] + (
                        f" (+{others} other command{'s' if others > 1 else ''})" if others else ""
                    ),
                }
            )  # fmt: skip
    return rows


def pss_peak_median(runs: Iterable[RunResult]) -> float | None:
    """The median over `runs` of the server tree's highest sampled PSS, None if unread."""
    values = [
        m.pss_peak_bytes
        for r in runs
        if r.profile == "none"
        and (m := r.memory.get("server")) is not None
        and m.pss_peak_bytes is not None
    ]
    return float(statistics.median(values)) if values else None


def tree_note(c: Comparison) -> str | None:
    """Which peak gates a multi-process server and why, with the tree's PSS beside it."""
    trees = [conf for conf in c.configurations if any(r.server_tree for r in conf.runs)]
    if not trees:
        return None
    pss = []
    for conf in trees:
        value = pss_peak_median(conf.runs)
        if value is not None:
            pss.append(f"{conf.name} {bytes_text(value)}")
    held = (
        " The tree's summed PSS (shared pages counted once; sampled, so not gated: a sample"
        " can miss a spike the kernel's peak keeps), highest steady sample, median over"
        " the runs: " + ", ".join(pss) + "."
        if pss
        else ""
    )
    return (
        "Peak RSS of a server of several processes is the sum of each process's own"
        " kernel peak (VmHWM), and that is the figure the tables and the gate use: the"
        " kernel catches each process's spike between samples, and no worker's memory is"
        " left out. It is an upper bound of what the tree held at once (processes need not"
        " peak together; a page they share counts once per process)." + held
    )
