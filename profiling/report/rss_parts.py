"""The report's "What makes up RSS at the peak" table and summary.json's figures for it,
from each run's `rss_parts` (the in-process agent's decomposition, pure).

Per configuration, each part is the median over the measured runs of that part at the
run's steady-phase RSS peak; a share of RSS the parts do not explain above
`UNACCOUNTED_LIMIT_PCT` is flagged rather than hidden.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from profiling.results.decompose import PART_NAMES, UNACCOUNTED_LIMIT_PCT, RssParts
from profiling.results.folder import MIB, RunResult
from profiling.verdict.compare import Comparison

COLUMNS = (
    ("pymalloc_used_bytes", "Python objects (pymalloc)"),
    ("pymalloc_free_bytes", "pymalloc free"),
    ("malloc_used_bytes", "malloc in use"),
    ("malloc_free_bytes", "malloc free, held"),
    ("malloc_mmapped_bytes", "malloc mmapped"),
    ("file_bytes", "file-backed"),
)


def _median(runs: list[RunResult], get: Callable[[RssParts], float]) -> float:
    return float(statistics.median(get(r.rss_parts.at_peak) for r in runs if r.rss_parts))


def _decomposed(runs: tuple[RunResult, ...]) -> list[RunResult]:
    return [r for r in runs if r.rss_parts is not None]


def parts_figures(runs: tuple[RunResult, ...]) -> dict[str, Any] | None:
    """The medians of one configuration's runs (bytes, %), or None without agent data."""
    found = _decomposed(runs)
    if not found:
        return None
    figures: dict[str, Any] = {
        "runs": len(found),
        "rss_bytes": _median(found, lambda p: p.rss_bytes),
        **{name: _median(found, lambda p, n=name: getattr(p, n)) for name in PART_NAMES},  # type: ignore[misc]
        "unaccounted_bytes": _median(found, lambda p: p.unaccounted_bytes),
        "unaccounted_pct": round(_median(found, lambda p: p.unaccounted_pct), 2),
        "worst_unaccounted_pct": max(
            r.rss_parts.worst_unaccounted_pct for r in found if r.rss_parts
        ),
        "agent_cpu_percent": statistics.median(
            [
                r.rss_parts.agent_cpu_percent
                for r in found
                if r.rss_parts and r.rss_parts.agent_cpu_percent is not None
            ]
            or [0.0]
        ),
    }
    return figures


def parts_rows(c: Comparison) -> list[dict[str, str]]:
    """One formatted row per configuration with agent data (empty: no section)."""
    rows = []
    for conf in c.configurations:
        figures = parts_figures(conf.runs)
        if figures is None:
            continue
        pct = figures["unaccounted_pct"]
        flag = " (over 10 %)" if abs(pct) > UNACCOUNTED_LIMIT_PCT else ""
        rows.append(
            {
                "name": conf.name,
                "rss": f"{figures['rss_bytes'] / MIB:.1f}",
                **{key: f"{figures[key] / MIB:.1f}" for key, _ in COLUMNS},
                "unaccounted": f"{figures['unaccounted_bytes'] / MIB:.1f} ({pct:+.1f} %){flag}",
                "worst": f"{figures['worst_unaccounted_pct']:.1f} %",
                "runs": str(figures["runs"]),
                "agent_cpu": f"{figures['agent_cpu_percent']:.2f} %",
            }
        )
    return rows
