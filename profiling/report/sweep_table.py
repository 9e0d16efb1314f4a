"""The sweep table: one row per configuration and swept value, each point judged against
the target it was run at (pure).

A point whose run did not serve its own target rate, or failed otherwise, says so in its
row: its figures are shown, marked invalid, and a figure it never measured (no request
answered) is "n/a", never a number. The open-connections column appears only for sweeps
that counted them, so older reports keep the table they had.
"""

from __future__ import annotations

from typing import Any

from profiling.numbers import bytes_text, ms_text
from profiling.verdict.compare import Comparison, SweepPoint


def _served(p: SweepPoint) -> str:
    if p.served_per_s is None:
        return "not recorded"
    target = "?" if p.target_per_s is None else f"{p.target_per_s:g}"
    return f"{p.served_per_s:.1f} / {target}"


def sweep_table(c: Comparison) -> dict[str, Any] | None:
    """{'connections': bool, 'rows': [...]} for the Markdown and HTML sweep tables."""
    if c.sweep is None:
        return None
    connections = any(p.connections_mean is not None for p in c.sweep.points)
    rows = []
    for p in c.sweep.points:
        peak = p.medians.get("peak_rss_bytes")
        p99 = p.medians.get("status_p99_ms")
        rows.append(
            {
                "configuration": p.configuration,
                "value": p.value,
                "runs": p.runs,
                "served": _served(p),
                "valid": "yes" if p.valid else "INVALID: " + "; ".join(p.problems),
                "peak": "n/a" if peak is None else bytes_text(peak),
                "p99": "n/a" if p99 is None else ms_text(p99),
                "connections": "n/a"
                if p.connections_mean is None
                else f"{p.connections_mean:,.1f}",
            }
        )
    return {"connections": connections, "rows": rows}
