"""Reading an ablation back: from its folder or from its summary.json (kind `memdiag-ablation`).

`memdiag gate` and `memdiag diff` take "a run folder or a summary"; for an ablation that
is either the folder `memdiag ablate` wrote (its `ablation.json` plan and `runs/`) or the
summary.json it wrote (the plan and every scenario's runs are inside, so a summary copied
out of its folder, as a CI artifact is, still judges). `load_ablation(target)` returns
the judged `Ablation` (the claims are recomputed from the runs, the same pure
`profiling.verdict.claims.evaluate` that wrote them), or None when the target is an ordinary
run folder or summary. `is_ablation(target)` answers without judging anything.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from profiling.results.folder import (
    SUMMARY_FILE,
    TIMELINE_FILE,
    RunResult,
    check_version,
    load_runs,
    load_timeline,
    read_json,
    run_from_record,
    summary_path,
)
from profiling.results.validate import Fields, SchemaError
from profiling.verdict.claims import PLAN_FILE, Ablation, evaluate, plan_from_document
from profiling.verdict.stats import DEFAULT_ALPHA

ABLATION_KIND = "memdiag-ablation"


def _folder_plan(target: Path) -> Path | None:
    folder = target if target.is_dir() else target.parent
    plan = folder / PLAN_FILE
    # A summary.json named by path is judged from itself, not from a plan beside it.
    return plan if target.is_dir() and plan.is_file() else None


def _summary_kind(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        doc = read_json(path)
    except SchemaError:
        return None  # not valid JSON: the ordinary loaders say so, as they always did
    return doc.get("kind") if isinstance(doc, dict) else None


def is_ablation(target: Path) -> bool:
    """True for a folder `memdiag ablate` wrote, or a summary of kind memdiag-ablation."""
    target = Path(target)
    if _folder_plan(target) is not None:
        return True
    return _summary_kind(summary_path(target)) == ABLATION_KIND


def _runs_of(doc: Fields, folder: Path) -> tuple[list[RunResult], float]:
    """Every run of every scenario in an ablation summary, and the alpha they were judged at."""
    runs: list[RunResult] = []
    alpha = DEFAULT_ALPHA
    for scenario, sub in doc.mapping("scenarios", optional=False).items():
        check_version(sub, "memdiag-summary")
        alpha = sub.opt_float("alpha") or alpha
        for record in sub.objects("runs"):
            runs.append(_with_timeline(run_from_record(record), folder))
        if not sub.objects("runs"):
            raise SchemaError(f"{doc.where}: scenarios.{scenario}.runs: no runs")
    return runs, alpha


def _with_timeline(run: RunResult, folder: Path) -> RunResult:
    if run.dir is None:
        return run
    return replace(run, timeline=load_timeline(folder / run.dir / TIMELINE_FILE))


def _from_summary(path: Path, name: str | None, alpha: float | None) -> Ablation:
    raw: Any = read_json(path)
    f = Fields(raw, str(path))
    check_version(f, ABLATION_KIND)
    plan = plan_from_document(f.obj("plan").data)
    runs, stored = _runs_of(f, path.parent)
    return evaluate(
        plan, runs, name=name or f.opt_str("name") or path.parent.name, alpha=alpha or stored
    )


def load_ablation(
    target: Path, *, name: str | None = None, alpha: float | None = None
) -> Ablation | None:
    """The judged ablation at `target` (folder or summary.json), or None if it is not one."""
    target = Path(target)
    plan_file = _folder_plan(target)
    if plan_file is not None:
        runs = load_runs(target)
        if runs:
            plan = plan_from_document(read_json(plan_file))
            return evaluate(
                plan, runs, name=name or target.resolve().name, alpha=alpha or DEFAULT_ALPHA
            )
        # The plan without runs/ (copied apart): its summary still holds every run.
    path = summary_path(target)
    if _summary_kind(path) != ABLATION_KIND:
        if plan_file is not None:
            raise SchemaError(
                f"{target}: an ablation folder ({PLAN_FILE}) with no runs/ and no "
                f"{SUMMARY_FILE} of kind {ABLATION_KIND!r}: nothing finished"
            )
        return None
    return _from_summary(path, name, alpha)
