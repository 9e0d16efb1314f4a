"""The `summary.json` document of a Comparison: what scripts and `memdiag gate` read.

It guarantees, per configuration, `peak_rss_bytes`, `rss_growth_mib_per_min`,
`status_p99_ms`, `db_reads_per_poll` and `error_rate` (medians over the measured runs;
every other metric too), `valid`, `work` (the median work, or null when the load
recorded none) and `db_bound` (why the DB set its pace, or null); at the top level
`rss_parts_at_peak` (what made up RSS at the steady peak, per part, when the in-process
agent ran), `comparable` and `not_comparable` (one entry per way the work differs from the
baseline's or kept growing), every run's record (`runs`), and `verdicts` per metric and
pair. `profiling.results.folder.load_summary` reads it back.

Everything added since the first schema is additive (new keys, new optional run fields),
so `schema_version` stays 1 and older summaries still load.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from profiling.report.rss_parts import parts_figures
from profiling.report.tree import pss_peak_median
from profiling.results.folder import SCHEMA_VERSION, WorkFigures, run_record
from profiling.verdict.comparable import DbBound, NotComparable
from profiling.verdict.compare import Comparison
from profiling.verdict.served import run_problems, run_valid
from profiling.verdict.stats import Verdict


def _not_comparable_record(n: NotComparable) -> dict[str, Any]:
    return {**asdict(n), "reason": n.describe()}


def _db_bound_record(b: DbBound | None) -> dict[str, Any] | None:
    return None if b is None else {**asdict(b), "reason": b.reason()}


def work_record(w: WorkFigures) -> dict[str, Any]:
    record = asdict(w)
    if w.stale_polls is None:
        del record["stale_polls"]  # added later: older summaries and goldens lack it
    if not w.tasks_end_in_run:
        del record["tasks_end_in_run"]  # likewise
    if w.connections_max is None:
        del record["connections_max"]  # likewise
        del record["connections_mean"]
    if w.tabs is None:
        del record["tabs"]  # likewise
    return record


def _verdict_record(v: Verdict) -> dict[str, Any]:
    return {
        "metric": v.metric,
        "baseline": v.baseline,
        "candidate": v.candidate,
        "baseline_median": v.baseline_median,
        "candidate_median": v.candidate_median,
        "ratio": v.ratio,
        "effect": v.effect,
        "p_value": v.p_value,
        "n_baseline": v.n_baseline,
        "n_candidate": v.n_candidate,
        "outcome": v.outcome,
        "significant": v.significant,
        "label": v.label,
    }


def summary_document(c: Comparison) -> dict[str, Any]:
    first = c.runs[0]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "memdiag-summary",
        "name": c.name,
        "valid": c.valid,
        "invalid_reasons": list(c.invalid_reasons),
        **({"attribution_problems": list(ap)} if (ap := c.attribution_problems) else {}),
        "comparable": c.comparable,
        "not_comparable": [_not_comparable_record(n) for n in c.not_comparable],
        "alpha": c.alpha,
        "scenario": run_record(first)["scenario"],
        "scenario_mismatch": list(c.scenario_mismatch),
        "environment": run_record(first)["environment"],
        "configurations": {
            conf.name: {
                "spec": conf.spec,
                "n_runs": len(conf.runs),
                "n_attribution_runs": len(conf.attribution),
                "valid": not c.invalid_runs(conf.name),
                "work": None if conf.work is None else work_record(conf.work),
                "db_bound": _db_bound_record(conf.db_bound),
                **conf.medians,
                # The server tree's highest sampled PSS (median); absent for servers of
                # one process, whose PSS is not read.
                **(
                    {"server_pss_peak_bytes": pss}
                    if (pss := pss_peak_median(conf.runs)) is not None
                    else {}
                ),
                # Added with the in-process agent; absent where no run has its data.
                **(
                    {"rss_parts_at_peak": parts}
                    if (parts := parts_figures(conf.runs)) is not None
                    else {}
                ),
            }
            for conf in c.configurations
        },
        "verdicts": [_verdict_record(v) for v in c.verdicts],
        # A run judged again on what it served (older records judged what was sent).
        "runs": [
            {**run_record(r), "valid": run_valid(r), "invalid_reasons": list(run_problems(r))}
            for r in c.runs
        ],
        "sweep": None
        if c.sweep is None
        else {
            "param": c.sweep.param,
            "values": list(c.sweep.values),
            "points": [
                {
                    "configuration": p.configuration,
                    "value": p.value,
                    "n_runs": p.runs,
                    **p.medians,
                    # Absent from sweeps recorded before connections were counted.
                    **(
                        {}
                        if p.connections_mean is None
                        else {"connections_mean": p.connections_mean}
                    ),
                }
                for p in c.sweep.points
            ],
        },
    }
