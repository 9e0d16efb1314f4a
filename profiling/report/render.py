"""Render a Comparison: `summary.json` (for scripts), `report.md` (for a review) and
`report.html` (self-contained, plots embedded as base64 PNGs, no CDN).

Every function here is pure: Comparison in, text out; only the CLI writes files. The
Markdown and JSON outputs are deterministic for the same runs (golden-tested); the HTML
carries the same tables plus the matplotlib plots from `profiling.report.plots`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from profiling.artefacts import dumps
from profiling.numbers import bytes_text
from profiling.report.holding import holder_diff, holder_sections
from profiling.report.narrative import (
    calibration_text,
    db_bound_rule,
    has_connections,
    verdict_paragraph,
    work_cell,
    work_note,
    work_rows,
)
from profiling.report.numbers import metric_change, metric_text
from profiling.report.per_connection import per_connection_sentence
from profiling.report.rss_parts import COLUMNS as PARTS_COLUMNS
from profiling.report.rss_parts import parts_rows
from profiling.report.stats_note import statistics_note
from profiling.report.summary_json import summary_document
from profiling.report.sweep_table import sweep_table
from profiling.report.tree import tree_note, tree_rows
from profiling.report.verdict_lines import effect_interval, interval_text, verdict_lines
from profiling.results.folder import RunResult
from profiling.verdict.compare import (
    METRICS,
    METRICS_BY_KEY,
    Comparison,
    Metric,
)
from profiling.verdict.served import served_rate

__all__ = ["headline", "metric_tables", "render_html", "render_json", "render_markdown",
           "verdict_paragraph"]  # fmt: skip

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters["md"] = lambda s: str(s).replace("|", "\\|").replace("\n", " ")


def render_json(c: Comparison) -> str:
    return dumps(summary_document(c))


# --- tables ----------------------------------------------------------------------


def _range(metric: Metric, values: list[float]) -> str:
    if len(values) < 2:
        return ""
    return f"{metric_text(metric, min(values))} - {metric_text(metric, max(values))}"


def metric_tables(c: Comparison) -> list[dict[str, Any]]:
    """One table per metric that any configuration measured. With one run per
    configuration the range and p columns would be empty: `repeated` leaves them out."""
    tables = []
    base = c.baseline
    bad = set(c.invalid_configurations)
    for m in METRICS:
        if all(conf.medians.get(m.key) is None for conf in c.configurations):
            continue
        rows = []
        for conf in c.configurations:
            values = conf.values(m.key)
            value = conf.medians.get(m.key)
            row: dict[str, Any] = {
                "name": conf.name + (" (invalid)" if conf.name in bad else ""),
                "median": metric_text(m, value),
                "n": len(values),
                "range": _range(m, values),
                "ratio": "",
                "label": "",
                "p": "",
                "outcome": "",
                "ci": "",
            }
            if conf is base:
                row["ratio"] = "baseline"
            elif (v := c.verdict(m.key, base.name, conf.name)) is not None:
                row["ratio"] = metric_change(m, v.baseline_median, v.candidate_median)
                if (ci := effect_interval(c, m.key, conf)) is not None:
                    row["ci"] = interval_text(ci, m)
                # The change is in the column before: the verdict says whether it counts.
                row["label"] = "significant" if v.significant else v.label
                row["p"] = "" if v.p_value is None else f"{v.p_value:.2g}"
                row["outcome"] = v.outcome
            if conf is not base and {conf.name, base.name} & bad:
                row["label"] = "not judged: invalid runs"
            rows.append(row)
        repeated = any(r["n"] > 1 for r in rows)
        tables.append({"key": m.key, "title": m.title, "rows": rows, "repeated": repeated})
    return tables


HEADLINE_ROWS = (
    "peak_rss_bytes",
    # Beside peak RSS, the mechanism: how many status requests the server held at once,
    # and how many bytes it decoded from the DB per second.
    "status_in_flight_max",
    "status_in_flight_mean",
    "db_reply_bytes_per_s",
    "rss_growth_mib_per_min",
    "server_cpu_percent",
    "db_cpu_percent",
    "status_p99_ms",
    "db_reads_per_poll",
    "db_reply_bytes_per_poll",
    "error_rate",
)


def headline(c: Comparison) -> dict[str, Any]:
    """The compact table a README or PR description quotes: metrics down, configurations
    across, each cell the median and its verdict against the first configuration; the
    first row is the work each was measured on."""
    rows = []
    bad = set(c.invalid_configurations)
    if any(conf.work is not None for conf in c.configurations):
        title = "Work (tasks x median segments, status polls served"
        rows.append(
            {
                "title": title + (", open connections)" if has_connections(c) else ")"),
                "cells": [work_cell(conf, c) for conf in c.configurations],
            }
        )
    for key in HEADLINE_ROWS:
        m = METRICS_BY_KEY[key]
        if all(conf.medians.get(key) is None for conf in c.configurations):
            continue
        cells = []
        for conf in c.configurations:
            cell = metric_text(m, conf.medians.get(key))
            v = c.verdict(key, c.baseline.name, conf.name)
            judged = not {conf.name, c.baseline.name} & bad
            if v is not None and v.outcome != "missing" and judged:
                how = v.label
                if v.significant or v.outcome == "inconclusive":
                    how = metric_change(m, v.baseline_median, v.candidate_median)
                    how += "?" if v.outcome == "inconclusive" else ""
                cell += f" ({how})"
            if conf.name in bad:
                cell += " (invalid)"
            cells.append(cell)
        rows.append({"title": m.title, "cells": cells})
    return {"names": [conf.name for conf in c.configurations], "rows": rows}


def conditions(c: Comparison) -> list[tuple[str, str]]:
    s = c.scenario
    env = c.runs[0].environment
    # The tables' runs (in a sweep: the points at its last value).
    measured = [r for conf in c.configurations for r in conf.runs] or list(c.runs)
    served = [x for r in measured if (x := served_rate(r)) is not None]
    sent = [r.load.achieved_rate_per_s for r in measured]
    # "Achieved" used to be what the load sent: a design that fell behind still read as
    # on target. What was served is the rate; what was sent is named as such.
    rate = f"{s.target_rate_per_s:g} /s; "
    if served:
        rate += f"served {_span(served)} status polls/s (the load sent {_span(sent)} /s)"
    else:
        rate += f"the load sent {_span(sent)} /s (polls served not recorded)"
    params = ", ".join(f"{k}={v}" for k, v in sorted(s.params.items()))
    repeats = sorted({len(conf.runs) for conf in c.configurations})
    attribution = sum(len(conf.attribution) for conf in c.configurations)
    rows = [
        ("scenario", s.name + (f" ({params})" if params else "")),
        ("target rate", rate),
        (
            "steady / warm-up / cool-down",
            f"{s.duration_s:g} s / {s.warmup_s:g} s / {s.cooldown_s:g} s",
        ),
        ("users", "" if s.users is None else str(s.users)),
        (
            "sweep",
            ""
            if c.sweep is None
            else f"{c.sweep.param} over {', '.join(map(str, c.sweep.values))}; the tables "
            f"show {c.sweep.values[-1]}",
        ),
        (
            "repeats",
            "/".join(map(str, repeats))
            + " measured run(s) per configuration, interleaved"
            + (f"; {attribution} attribution run(s) beside them" if attribution else ""),
        ),
        # Plain text: the HTML shows a cell as it is, and literal backticks read as noise.
        ("configurations", ", ".join(f"{conf.name} = {conf.spec}" for conf in c.configurations)),
        ("host", f"{env.host} ({env.cpu_count or '?'} CPUs), {env.platform}".strip(", ")),
        ("Python", env.python),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted(env.versions.items()))),
        ("git commit", env.git_commit),
        ("host load (1 min) at run start", _load_range(measured)),
        ("DB server", f"{env.db_server} {env.db_version}".strip()),
        ("pre-flight", next((r.preflight.text for r in measured if r.preflight), "")),
        ("DB calibration", calibration_text(c)),
        ("DB-bound rule", db_bound_rule() if any(r.calibration for r in measured) else ""),
    ]
    return [(k, v) for k, v in rows if v]


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f} - {high:.1f}"


def _load_range(runs: list[RunResult]) -> str:
    loads = [r.host_load_1m for r in runs if r.host_load_1m is not None]
    if not loads:
        return ""
    cpus = runs[0].environment.cpu_count
    text = f"{min(loads):.1f} - {max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}"
    return text + (f" on {cpus} CPUs" if cpus else "")


def links(runs: Iterable[RunResult]) -> list[dict[str, Any]]:
    out = []
    for r in runs:
        if r.dir is None:
            continue
        files = [("rss.csv", f"{r.dir}/rss.csv")] if r.timeline else []
        files += [(name, f"{r.dir}/{path}") for name, path in sorted(r.artifacts.items())]
        out.append(
            {
                "label": f"{r.configuration} run {r.repeat}"
                + (f" ({r.profile})" if r.profile != "none" else ""),
                "dir": r.dir,
                "files": files,
            }
        )
    return out


def _sites(c: Comparison, limit: int = 10) -> list[dict[str, Any]]:
    rows = []
    for r in c.runs:
        for site in r.top_sites[:limit]:
            rows.append(
                {
                    "configuration": r.configuration,
                    "run": r.repeat,
                    "profile": r.profile,
                    "location": site.location,
                    "size": bytes_text(site.size_bytes),
                    "count": site.count,
                    "source": site.source,
                    "links": [
                        (n, f"{r.dir}/{p}")
                        for n, p in sorted(r.artifacts.items())
                        if r.dir and "flamegraph" in n
                    ],
                }
            )
    return rows


def _mib(value: int | None) -> str:
    return "n/a" if value is None else bytes_text(value)


def _heap_rows(c: Comparison) -> list[dict[str, Any]]:
    """Heap high-water mark against the same run's kernel RSS peak, and the allocator."""
    rows = []
    for r in c.runs:
        if r.heap is None:
            continue
        server = r.memory.get("server")
        peak = server.kernel_peak_bytes if server else None
        gap = (
            None
            if peak is None or r.heap.heap_peak_bytes is None
            else peak - r.heap.heap_peak_bytes
        )
        rows.append(
            {
                "configuration": r.configuration,
                "run": r.repeat,
                "source": r.heap.source,
                "heap": _mib(r.heap.heap_peak_bytes),
                "rss": _mib(peak),
                "gap": _mib(gap),
                "arenas": "n/a" if r.heap.malloc_arenas is None else str(r.heap.malloc_arenas),
                "trim": _mib(r.heap.malloc_trim_returned_bytes),
            }
        )
    return rows


def _context(c: Comparison) -> dict[str, Any]:
    return {
        "c": c,
        "paragraph": verdict_paragraph(c),
        "verdict_lines": verdict_lines(c),
        "statistics": statistics_note(c),
        "tables": metric_tables(c),
        "headline": headline(c),
        "work_rows": work_rows(c),
        "has_connections": has_connections(c),
        "work_note": work_note(c),
        "sweep": sweep_table(c),
        "per_connection": per_connection_sentence(c),
        "conditions": conditions(c),
        "links": links(c.runs),
        "sites": _sites(c),
        "heap_rows": _heap_rows(c),
        "holders": holder_sections(c),
        "holder_diff": holder_diff(c),
        "has_dirs": any(r.dir for r in c.runs),
        "has_in_flight": any(r.status_in_flight for r in c.runs),
        "parts_rows": parts_rows(c),
        "parts_columns": PARTS_COLUMNS,
        "tree_rows": tree_rows(c),
        "tree_note": tree_note(c),
    }


def render_markdown(c: Comparison) -> str:
    return _ENV.get_template("report.md").render(**_context(c))


def render_html(c: Comparison) -> str:
    from profiling.report import plots  # matplotlib costs a second to import; only HTML needs it

    return _ENV.get_template("report.html").render(**_context(c), plots=plots.all_plots(c))
