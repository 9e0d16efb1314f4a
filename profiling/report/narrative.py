"""The words of a report: the verdict paragraph, the Work rows and the DB calibration line.

All pure, Comparison in, text out. The paragraph opens with the conditions that limit
what the figures can say (work that is not comparable, a database that bounded a
configuration) before any claim that a configuration is better or worse.
"""

from __future__ import annotations

from typing import Any

from profiling.report.numbers import metric_change, metric_text
from profiling.results.folder import MIB, DbCalibration, WorkFigures
from profiling.verdict.comparable import (
    CONNECTIONS,
    DB_CPU_BOUND_PERCENT,
    DB_SHARE_BOUND,
    POLLS_PER_S,
    TASK_GROWTH,
    TASKS,
    WORK_TOLERANCE,
)
from profiling.verdict.compare import HEADLINE, METRICS_BY_KEY, Comparison, ConfigResult
from profiling.verdict.stats import median

SHORT = {
    "peak_rss_bytes": "peak RSS",
    "rss_growth_mib_per_min": "RSS growth",
    "status_p99_ms": "status p99",
    "db_reads_per_poll": "DB reads per poll",
    "error_rate": "error rate",
}


def _clause(c: Comparison, metric: str, cand: ConfigResult) -> str | None:
    v = c.verdict(metric, c.baseline.name, cand.name)
    if v is None or v.baseline_median is None or v.candidate_median is None:
        return None
    m = METRICS_BY_KEY[metric]
    figures = f"{metric_text(m, v.baseline_median)} -> {metric_text(m, v.candidate_median)}"
    how = metric_change(m, v.baseline_median, v.candidate_median)
    if v.outcome == "inconclusive":
        label = f"{how}?"  # the closing sentence says once what "?" means
    elif v.outcome == "same" and metric != "peak_rss_bytes":
        return None  # the paragraph names what changed; the tables show the rest
    elif v.significant:
        label = how
    else:
        label = v.label
    return f"{SHORT.get(metric, m.title)} {figures} ({label})"


def caveats(c: Comparison) -> list[str]:
    """The sentences that limit the verdict: unequal or growing work, a DB-bound design."""
    text = []
    if c.not_comparable:
        unlike = [n.describe() for n in c.not_comparable if n.metric != TASK_GROWTH]
        grew: dict[str, list[str]] = {}
        for n in c.not_comparable:
            if n.metric == TASK_GROWTH:
                pct = "from 0" if n.diff_pct is None else f"{n.diff_pct:+.0f} %"
                grew.setdefault(n.configuration, []).append(pct)
        if grew:
            unlike.append(
                "tasks grew within the steady phase in "
                + ", ".join(f"{name} ({', '.join(pcts)})" for name, pcts in grew.items())
            )
        text.append(
            "NOT COMPARABLE: the configurations did not do the same work (more than "
            f"{WORK_TOLERANCE * 100:g} % apart, or tasks growing): "
            + "; ".join(unlike)
            + ". The differences below measure the work as much as the designs."
        )
    works = [conf.work for conf in c.configurations if conf.work is not None]
    if not c.not_comparable and len(works) == len(c.configurations) > 1:
        sizes = [w.task_segments for w in works]
        rates = [w.polls_per_s for w in works]
        if all(w.tasks_end_in_run for w in works):
            counts = [w.tasks for w in works]
            text.append(
                f"Equal work: {min(counts)} - {max(counts)} tasks run, each through its whole "
                f"life, {min(rates):.1f} - {max(rates):.1f} status polls/s served (within "
                f"{WORK_TOLERANCE * 100:g} % of {c.baseline.name}'s, or one task)."
            )
        else:
            text.append(
                f"Equal work: {works[0].tasks} task(s) of {min(sizes):,.0f} - "
                f"{max(sizes):,.0f} segments, {min(rates):.1f} - {max(rates):.1f} status "
                f"polls/s served (within {WORK_TOLERANCE * 100:g} % of {c.baseline.name}'s, "
                "and stationary)."
            )
    for conf in c.configurations:
        if conf.db_bound is not None:
            text.append(f"{conf.name} was bound by the database: {conf.db_bound.reason()}.")
    if (note := settle_note(c)) is not None:
        text.append(note)
    return text


def verdict_paragraph(c: Comparison) -> str:
    """The report's opening paragraph: conditions, what changed, and how sure we are."""
    runs = sorted({len(conf.runs) for conf in c.configurations})
    n = "/".join(str(x) for x in runs)
    s = c.scenario
    text = [
        f"Scenario {s.name} at {s.target_rate_per_s:g} requests/s for {s.duration_s:g} s "
        f"(after {s.warmup_s:g} s warm-up), {n} measured run(s) per configuration; "
        f"baseline {c.baseline.name}.",
    ]
    if not c.valid:
        # First, before any figure: an invalid run's figures never lead the verdict.
        bad_names = ", ".join(c.invalid_configurations)
        text.append(
            f"INVALID: {len(c.invalid_reasons)} problem(s), see below"
            + (f"; the figures of {bad_names} are not quoted." if bad_names else ".")
        )
    text += caveats(c)
    bad = set(c.invalid_configurations)
    candidates = [conf for conf in c.configurations[1:] if conf.name not in bad]
    if c.baseline.name in bad:
        candidates = []
        if len(c.configurations) > 1:
            text.append(f"Nothing is compared against {c.baseline.name}: its runs are invalid.")
    names = ", ".join(conf.name for conf in c.configurations)
    significant = [v for v in c.verdicts if v.significant]
    undecided = [v for v in c.verdicts if v.outcome == "inconclusive"]
    if candidates and not significant and not undecided:
        text.append(f"No significant change between {names} in any metric.")
    else:
        for cand in candidates:
            clauses = [cl for metric in HEADLINE if (cl := _clause(c, metric, cand))]
            if clauses:
                text.append(f"{cand.name}: " + "; ".join(clauses) + ".")
    shown = [v for v in undecided if v.baseline == c.baseline.name and v.metric in HEADLINE]
    if undecided and candidates:
        need = undecided[0].label.rsplit("need ", 1)[-1].rstrip(")")
        how = (
            f"the U test needs {need} measured runs per configuration "
            f"(memdiag compare --repeat {need})."
        )
        if shown:
            lead = "None of these changes" if not significant else 'Changes marked "?"'
            text.append(f"{lead} can be called significant yet: {how}")
        else:
            text.append(f"{len(undecided)} other comparison(s) in the tables are undecided: {how}")
    if not candidates and c.baseline.name not in bad:
        conf = c.baseline
        figures = [
            f"{SHORT[k]} {metric_text(METRICS_BY_KEY[k], conf.medians.get(k))}"
            for k in HEADLINE
            if conf.medians.get(k) is not None
        ]
        text.append(f"{conf.name}: " + ", ".join(figures) + ".")
    return " ".join(text)


# --- work ----------------------------------------------------------------------------


def _kib(value: float) -> str:
    return f"{value / 1024:,.1f}"


def work_cell(conf: ConfigResult, c: Comparison) -> str:
    """The headline's compact Work cell: '4 x 5,000 segments, 39.9 polls/s'."""
    w = conf.work
    if w is None:
        return "not recorded"
    flagged = any(n.configuration == conf.name for n in c.not_comparable)
    size = (
        f"{w.tasks} tasks run"
        if w.tasks_end_in_run
        else f"{w.tasks} x {w.task_segments:,.0f} segments"
    )
    conns = "" if w.connections_mean is None else f", {w.connections_mean:,.0f} connections"
    return f"{size}, {w.polls_per_s:.1f} polls/s{conns}" + (" (not comparable)" if flagged else "")


def _short_reasons(name: str, c: Comparison) -> list[str]:
    """'task size +449 %', 'polls/s -15 %', 'tasks grew +30 %, +31 %' for one configuration."""
    reasons, grew = [], []
    for n in c.not_comparable:
        if n.configuration != name:
            continue
        pct = "" if n.diff_pct is None else f" {n.diff_pct:+.0f} %"
        if n.metric == TASK_GROWTH:
            grew.append(pct.strip() or "from 0")
        elif n.metric == POLLS_PER_S:
            reasons.append(f"polls/s{pct}")
        elif n.metric == TASKS:
            reasons.append(f"tasks{pct}")
        elif n.metric == CONNECTIONS:
            reasons.append(f"connections{pct}")
        else:
            reasons.append(f"task size{pct}")
    if grew:
        reasons.append("tasks grew " + ", ".join(grew))
    return reasons


def not_comparable_line(c: Comparison) -> str:
    """One line for a terminal: 'memory-first: task size +449 %; lean: ...'."""
    return "; ".join(
        f"{conf.name}: {', '.join(reasons)}"
        for conf in c.configurations
        if (reasons := _short_reasons(conf.name, c))
    )


def _comparable(conf: ConfigResult, c: Comparison) -> str:
    if conf.work is None:
        return "not checked"
    reasons = _short_reasons(conf.name, c)
    return "no: " + ", ".join(reasons) if reasons else "yes"


def _ready(w: WorkFigures) -> str:
    if w.target_segments <= 0:
        return "not pre-grown"
    return "never" if w.ready_after_s is None else f"{w.ready_after_s:.1f} s"


def _connections(w: WorkFigures) -> str:
    if w.connections_max is None or w.connections_mean is None:
        return "not counted"
    tabs = "" if w.tabs is None else f" ({w.tabs:,} tabs)"
    return f"{w.connections_max:,} / {w.connections_mean:,.1f}{tabs}"


def has_connections(c: Comparison) -> bool:
    """Whether any configuration's work counted open connections (older runs did not:
    their reports keep the Work table they had)."""
    return any(
        conf.work is not None and conf.work.connections_max is not None for conf in c.configurations
    )


def settle_note(c: Comparison) -> str | None:
    """'RSS had not settled in ...': the measured runs whose growth is not quoted."""
    unsettled = [r for conf in c.configurations for r in conf.runs if r.rss_settled is False]
    if not unsettled:
        return None
    names = ", ".join(f"{r.configuration} run {r.repeat}" for r in unsettled)
    return (
        f"RSS had not settled in {names}: every tab had a reply in the steady phase and "
        "every polled task was at size only in its second half, or never, so no growth is "
        "quoted for them (a longer --duration, or fewer tabs, gives one)."
    )


def work_rows(c: Comparison) -> list[dict[str, Any]]:
    """The Work table: one row per configuration, medians over its measured runs."""
    rows = []
    for conf in c.configurations:
        w = conf.work
        row: dict[str, Any] = {"name": conf.name, "recorded": w is not None}
        if w is not None:
            row.update(
                tasks=f"{w.tasks} x {w.segments_start:,.0f} -> {w.segments_end:,.0f}",
                target="-" if w.target_segments <= 0 else f"{w.target_segments:,}",
                status=f"{_kib(w.status_bytes_start)} -> {_kib(w.status_bytes_end)}",
                polls=f"{w.polls:,}",
                rate=f"{w.polls_per_s:.1f} / {c.scenario.target_rate_per_s:g}",
                ready=_ready(w),
                comparable=_comparable(conf, c),
                connections=_connections(w),
            )
        rows.append(row)
    return rows


def work_note(c: Comparison) -> str:
    """What the Work table says about configurations that recorded none."""
    missing = [conf.name for conf in c.configurations if conf.work is None]
    if not missing:
        return ""
    if len(missing) == len(c.configurations):
        return (
            "The work was not recorded (the load reported no polled tasks: a locustfile of "
            "your own, or runs made before memdiag recorded them), so equal work was not "
            "checked."
        )
    return (
        f"The work of {', '.join(missing)} was not recorded, so it was not checked against "
        "the others."
    )


# --- the DB calibration ----------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def calibration_text(c: Comparison) -> str:
    """'FerretDB 1.24.2: find_one 2,513 ms = 33x the client's decode (76 ms) of the 3.1 MiB
    task (3,000 segments)', medians of the measured runs' calibrations, per engine."""
    measured = [r for conf in c.configurations for r in conf.runs] or list(c.runs)
    by_engine: dict[str, list[DbCalibration]] = {}
    for r in measured:
        if r.calibration is not None:
            by_engine.setdefault(r.calibration.engine, []).append(r.calibration)
    parts = []
    for engine, cals in by_engine.items():
        find_one = median([x.find_one_ms for x in cals])
        decode = median([x.decode_ms for x in cals])
        size = median([x.doc_bytes for x in cals]) / MIB
        segments = median([x.segments for x in cals])
        ratio = f"{find_one / decode:.1f}x" if decode > 0 else "n/a"
        if decode > 0 and find_one / decode >= 10:
            ratio = f"{find_one / decode:.0f}x"
        parts.append(
            f"{engine}: find_one {_ms(find_one)} = {ratio} the client's decode "
            f"({_ms(decode)}) of the {size:.1f} MiB task ({segments:,.0f} segments; median of "
            f"{len(cals)} run(s), {cals[0].reads} reads each)"
        )
    return "; ".join(parts)


def db_bound_rule() -> str:
    return (
        f"DB CPU >= {DB_CPU_BOUND_PERCENT:g} % of one core, or DB reads per poll x the "
        f"calibrated find_one > {DB_SHARE_BOUND * 100:g} % of the status p50"
    )


def text_table(rows: list[list[str]]) -> str:
    """Rows (the first is the header) as aligned plain text, for a terminal."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def work_text(c: Comparison) -> str:
    """The Work table for a terminal (memdiag diff and gate); the note when none recorded."""
    conns = has_connections(c)
    rows = [["work", "tasks x segments", "status KiB", "polls", "polls/s", "comparable"]]
    if conns:
        rows[0].insert(5, "connections max / mean")
    for w in work_rows(c):
        if w["recorded"]:
            row = [w["name"], w["tasks"], w["status"], w["polls"], w["rate"], w["comparable"]]
            if conns:
                row.insert(5, w["connections"])
        else:
            row = [w["name"], "not recorded", "", "", "", "not checked"]
            if conns:
                row.insert(5, "")
        rows.append(row)
    return text_table(rows) + (f"\n{note}" if (note := work_note(c)) else "")
