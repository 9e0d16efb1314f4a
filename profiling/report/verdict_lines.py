"""The verdict a reviewer reads in a minute: at most five short lines, details after (pure).

The old opening paragraph ran to 160 words and 24 numbers, quoted an invalid run's figures
first and said INVALID last. These lines say, in this order: what limits the figures
(invalid runs, work that is not comparable: always first, never after a figure), the
answer per configuration on the gated metric (peak RSS) with its interval, what did not
change that matters, and, when nothing limits it, why the comparison can be trusted. An
invalid configuration's figures are never quoted here; the tables still show them,
marked.

`pr_comment_lines` gives the same at most ten lines for a pull request: only the
significant changes, the rest counted ("4 unchanged").
"""

from __future__ import annotations

from profiling.numbers import sig3
from profiling.report.numbers import metric_change, metric_delta, metric_text
from profiling.verdict.compare import HEADLINE, METRICS_BY_KEY, Comparison, ConfigResult, Metric
from profiling.verdict.effect import Interval, shift_interval
from profiling.verdict.served import run_problems
from profiling.verdict.stats import Verdict, repeats_needed

GATED = "peak_rss_bytes"
MAX_LINES = 5
MAX_PR_LINES = 10
SHORT = {
    "peak_rss_bytes": "peak RSS",
    "rss_growth_mib_per_min": "RSS growth",
    "status_p99_ms": "status p99",
    "db_reads_per_poll": "DB reads per poll",
    "error_rate": "error rate",
}


def interval_text(interval: Interval, m: Metric | None = None) -> str:
    """'97 % CI 5.5x - 6.1x less', or in the metric's unit for differences."""
    pct = f"{interval.confidence * 100:.0f} % CI"
    if interval.ratio:
        low, high = sorted((interval.low, interval.high))
        if high < 1:
            return f"{pct} {_fold(1 / high)} - {_fold(1 / low)}x less"
        if low > 1:
            return f"{pct} {_fold(low)} - {_fold(high)}x more"
        return f"{pct} {_fold(1 / low)}x less to {_fold(high)}x more"
    if m is not None:
        return f"{pct} {metric_delta(m, interval.low)} to {metric_delta(m, interval.high)}"
    return f"{pct} {sig3(interval.low)} to {sig3(interval.high)}"


def _fold(factor: float) -> str:
    return sig3(factor)


def effect_interval(c: Comparison, metric: str, cand: ConfigResult) -> Interval | None:
    m = METRICS_BY_KEY[metric]
    base = c.baseline
    return shift_interval(
        base.values(metric),
        cand.values(metric),
        ratio=m.difference_unit is None,
        alpha=c.alpha,
    )


def _figures(v: Verdict, metric: str) -> str:
    m = METRICS_BY_KEY[metric]
    return f"{metric_text(m, v.candidate_median)} against {metric_text(m, v.baseline_median)}"


def _answer(c: Comparison, cand: ConfigResult) -> str | None:
    """'lean: peak RSS 73.3 MiB against 423 MiB, 5.8x less (97 % CI ...; p = 0.029)'."""
    v = c.verdict(GATED, c.baseline.name, cand.name)
    if v is None or v.baseline_median is None or v.candidate_median is None:
        return None
    m = METRICS_BY_KEY[GATED]
    change = metric_change(m, v.baseline_median, v.candidate_median)
    head = f"{cand.name}: {SHORT[GATED]} {_figures(v, GATED)}"
    runs = f"{v.n_baseline} vs {v.n_candidate} runs"
    if v.significant:
        interval = effect_interval(c, GATED, cand)
        stats = f"p = {v.p_value:.2g}" if v.p_value is not None else runs
        ci = f"{interval_text(interval)}; " if interval is not None else ""
        return f"{head}, {change} ({ci}{stats}, {runs})."
    if v.outcome == "inconclusive":
        return (
            f"{head}, {change} so far, not yet significant ({runs}; the test needs "
            f"{repeats_needed(c.alpha)} per configuration)."
        )
    floor = m.floor
    return (
        f"{head}: no change beyond the run-to-run spread or the effect floor "
        f"({floor.relative * 100:g} % and {metric_text(m, floor.absolute)}; {runs})."
    )


def _unchanged(c: Comparison, shown: list[ConfigResult]) -> str | None:
    """What did not change that a reader would expect to: the headline metrics beside
    peak RSS that stayed put, per configuration shown."""
    parts = []
    for cand in shown:
        same = []
        for metric in HEADLINE:
            if metric == GATED:
                continue
            v = c.verdict(metric, c.baseline.name, cand.name)
            if v is None or v.outcome != "same":
                continue
            if metric == "error_rate" and not v.baseline_median and not v.candidate_median:
                continue  # no errors on either side: nothing a reader expected to change
            same.append(SHORT[metric])
        if same:
            parts.append(f"{cand.name}'s {', '.join(same)}")
    return "Unchanged: " + "; ".join(parts) + "." if parts else None


def _limits(c: Comparison) -> list[str]:
    """Invalid configurations and work that is not comparable: one line each at most."""
    lines = []
    invalid = c.invalid_configurations
    if invalid:
        parts = []
        for name in invalid:
            runs = c.invalid_runs(name)
            conf = c.config(name)
            total = len(conf.runs) if conf else len(runs)
            reason = next(iter(run_problems(runs[0])), "") if runs else ""
            parts.append(f"{name} ({len(runs)} of {total} runs: {reason})")
        whose = "Their" if len(parts) > 1 else "Its"
        lines.append(
            "INVALID: " + "; ".join(parts) + f". {whose} figures are not quoted here; the "
            "tables mark them."
        )
    if bound := [conf.name for conf in c.configurations if conf.db_bound is not None]:
        lines.append(
            f"DB-BOUND: the database set the pace of {', '.join(bound)}, so its server never "
            "held the decoded documents the incident is about (see Run conditions)."
        )
    if c.not_comparable:
        order = [conf.name for conf in c.configurations]
        names = [name for name in order if any(n.configuration == name for n in c.not_comparable)]
        more = len(c.not_comparable) - 2
        lines.append(
            f"NOT COMPARABLE ({', '.join(names)}): "
            + "; ".join(n.describe() for n in c.not_comparable[:2])
            + (f"; {more} more under Work" if more > 0 else "")
            + "."
        )
    return lines


def _trust(c: Comparison) -> str:
    runs = sorted({len(conf.runs) for conf in c.configurations})
    n = "/".join(map(str, runs))
    work = [conf.work for conf in c.configurations if conf.work is not None]
    parts = [f"{n} interleaved run(s) per configuration, all valid"]
    if work and len(work) == len(c.configurations):
        rates = [w.polls_per_s for w in work]
        parts.append(
            f"equal work ({min(rates):.1f} - {max(rates):.1f} status polls/s served of "
            f"{c.scenario.target_rate_per_s:g})"
        )
    if any(conf.db_bound for conf in c.configurations):
        bound = ", ".join(conf.name for conf in c.configurations if conf.db_bound)
        parts.append(f"the DB bounded {bound}")
    return "Valid: " + "; ".join(parts) + "."


def verdict_lines(c: Comparison) -> list[str]:
    """At most five lines: limits first, the gated answer, what did not change, trust."""
    lines = _limits(c)
    bad = set(c.invalid_configurations)
    base = c.baseline
    candidates = [conf for conf in c.configurations[1:] if conf.name not in bad]
    if base.name in bad or not c.configurations[1:]:
        # No valid baseline to judge against: each valid configuration's own figure.
        own = [
            f"{conf.name} {metric_text(METRICS_BY_KEY[GATED], conf.medians.get(GATED))}"
            for conf in c.configurations
            if conf.name not in bad
        ]
        lead = (
            f"No verdict against {base.name}: its runs are invalid. "
            if base.name in bad and c.configurations[1:]
            else ""
        )
        if own:
            lines.append(f"{lead}Peak RSS: " + ", ".join(own) + ".")
        elif lead:
            lines.append(lead.strip())
    else:
        room = MAX_LINES - len(lines) - 1  # one line kept for unchanged or trust
        answers = [a for conf in candidates if (a := _answer(c, conf))]
        if len(answers) > room:
            kept = answers[: max(room - 1, 1)]
            kept.append(f"{len(answers) - len(kept)} more configuration(s) in the tables.")
            answers = kept
        lines += answers
        shown = candidates[: len(answers)]
        if (unchanged := _unchanged(c, shown)) and len(lines) < MAX_LINES:
            lines.append(unchanged)
    if (swept := _sweep_line(c)) is not None and len(lines) < MAX_LINES:
        lines.append(swept)
    if not _limits(c) and len(lines) < MAX_LINES:
        lines.append(_trust(c))
    return lines[:MAX_LINES]


def _sweep_line(c: Comparison) -> str | None:
    """The sweep's points that did not measure what they were asked to (each judged
    against its own target), since the lines above speak of the last point only."""
    if c.sweep is None:
        return None
    bad: dict[str, list[str]] = {}
    for p in c.sweep.points:
        if not p.valid:
            bad.setdefault(p.configuration, []).append(str(p.value))
    if not bad:
        return None
    parts = "; ".join(f"{name} at {', '.join(values)}" for name, values in bad.items())
    return f"Sweep over {c.sweep.param}: invalid points {parts} (crossed in the plot)."


def pr_comment_lines(c: Comparison) -> list[str]:
    """At most ten lines for a pull request: limits, significant changes on the headline
    metrics, and how many comparisons did not change."""
    lines = _limits(c)
    bad = set(c.invalid_configurations)
    significant: list[str] = []
    unchanged = 0
    for v in c.verdicts:
        if v.baseline != c.baseline.name or v.metric not in HEADLINE:
            continue
        if v.candidate in bad or v.baseline in bad:
            continue
        if not v.significant:
            unchanged += 1
            continue
        m = METRICS_BY_KEY[v.metric]
        significant.append(
            f"{v.candidate}: {SHORT[v.metric]} {metric_text(m, v.candidate_median)} against "
            f"{metric_text(m, v.baseline_median)}, "
            f"{metric_change(m, v.baseline_median, v.candidate_median)}"
            + (f" (p = {v.p_value:.2g})" if v.p_value is not None else "")
        )
    if len(c.configurations) == 1 and not bad:
        # Nothing to compare with: the configuration's own headline figures.
        conf = c.baseline
        own = [
            f"{SHORT[k]} {metric_text(METRICS_BY_KEY[k], value)}"
            for k in HEADLINE
            if (value := conf.medians.get(k)) is not None
        ]
        return [*lines, f"{conf.name}: " + ", ".join(own) + "."]
    room = MAX_PR_LINES - len(lines) - 1
    if len(significant) > room:
        extra = len(significant) - room + 1
        significant = [*significant[: room - 1], f"{extra} more significant change(s)"]
    lines += significant
    lines.append(f"{unchanged} not significant (unchanged, or too few runs to decide).")
    return lines[:MAX_PR_LINES]
