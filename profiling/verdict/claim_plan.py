"""The ablation's plan as it travels with its runs: `ablation.json` in the run folder, so a
folder can be judged again without the command that made it (pure).

Kept apart from `claims` (the judging); `claims` re-exports these names.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from profiling.fixreport.ablation import AblationPlan, Step
from profiling.results.folder import SCHEMA_VERSION
from profiling.results.validate import SchemaError

PLAN_FILE = "ablation.json"


def plan_document(p: AblationPlan) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "memdiag-ablation-plan",
        "base": p.base,
        "direction": p.direction,
        "repeat": p.repeat,
        "steps": [_step_document(s) for s in p.steps],
        "skipped": [{"key": k, "why": why} for k, why in p.skipped],
    }


def _step_document(s: Step) -> dict[str, Any]:
    doc = asdict(s)
    if not s.reference:
        del doc["reference"]  # judged against the base (as every plan before it was)
    return doc


def plan_from_document(doc: Any) -> AblationPlan:
    """The plan `plan_document` wrote; a document that is not one is a SchemaError."""
    if not isinstance(doc, dict) or doc.get("kind") != "memdiag-ablation-plan":
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise SchemaError(f"{PLAN_FILE}: not an ablation plan (kind {kind!r})")
    try:
        return _plan(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"{PLAN_FILE}: a malformed plan ({exc!r})") from None


def _plan(doc: dict[str, Any]) -> AblationPlan:
    steps = tuple(
        Step(
            s["key"],
            s["claim"],
            s["load"],
            tuple(s["overrides"]),
            s["spec"],
            bool(s["with_change"]),
            str(s.get("reference", "")),
        )
        for s in doc["steps"]
    )
    skipped = tuple((s["key"], s["why"]) for s in doc.get("skipped", []))
    return AblationPlan(doc["base"], doc["direction"], steps, int(doc["repeat"]), skipped)
