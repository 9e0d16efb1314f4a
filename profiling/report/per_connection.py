"""Peak RSS per open connection, from a sweep over the tabs (`memdiag sweep --param users`).

Under the tab model every Locust user is a browser tab on its own keep-alive connection,
and an idle keep-alive connection can hold the last reply it carried. A sweep over the
tabs at one rate therefore measures what each open connection costs a design: the
least-squares slope of the points' peak RSS over their mean open connections (the
server's, sampled from /proc), per configuration, over its valid points only (a point
that did not serve its rate measured a queue, not the connections). Pure; None for
sweeps recorded before connections were counted, so their reports stay as they were.
"""

from __future__ import annotations

from profiling.probes.summary import slope_per_s
from profiling.verdict.compare import Comparison

MIB = 1024 * 1024


def mib_per_connection(c: Comparison) -> dict[str, float]:
    """Per configuration: the slope of peak RSS (MiB) over mean open connections across
    the sweep's valid points (two or more with both figures, and connections that
    vary)."""
    if c.sweep is None:
        return {}
    out: dict[str, float] = {}
    for conf in c.configurations:
        pairs = [
            (conns, peak / MIB)
            for p in c.sweep.points
            if p.configuration == conf.name
            and p.valid
            and (conns := p.connections_mean) is not None
            and (peak := p.medians.get("peak_rss_bytes")) is not None
        ]
        if len(pairs) < 2:
            continue
        xs = [float(x) for x, _ in pairs]
        ys = [float(y) for _, y in pairs]
        # slope_per_s is a plain least-squares slope; it wants 3 points, a line needs 2.
        if len(pairs) == 2:
            slope = (ys[1] - ys[0]) / (xs[1] - xs[0]) if xs[1] != xs[0] else None
        else:
            slope = slope_per_s(xs, ys)
        if slope is not None:
            out[conf.name] = round(slope, 3)
    return out


def per_connection_sentence(c: Comparison) -> str | None:
    """'Peak RSS per open connection (...): lean 0.02 MiB, memory-first 1.24 MiB.'"""
    slopes = mib_per_connection(c)
    if not slopes:
        return None
    parts = ", ".join(f"{name} {value:.2f} MiB" for name, value in slopes.items())
    return (
        "Peak RSS per open connection (least-squares slope of the valid points' peak RSS "
        f"over their mean open connections): {parts}."
    )
