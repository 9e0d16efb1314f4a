"""Slimming a run folder: keep what `memdiag report` reads, drop the raw probe output.

A run folder keeps, per run, `run.json` (every figure the verdicts and reports use),
`rss.csv` (the timeline) and `agent.csv` (the RSS decomposition over time); everything
else under `runs/*/` is raw probe output (Locust's CSVs and log, /metrics scrapes, the
load's JSON, the server's log, process lists, tracemalloc diffs, control files) that is
useful while investigating a run and not needed to re-render it. Slimming deletes those
files and drops their entries from the run's `artifacts`, so the report links only what
is there. Committed examples are slimmed; a fresh run is never slimmed unless asked.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from profiling.artefacts import dumps, write_text
from profiling.results.folder import PARTS_FILE, RUN_FILE, RUNS_DIR, TIMELINE_FILE

KEPT = frozenset({RUN_FILE, TIMELINE_FILE, PARTS_FILE})


@dataclass(frozen=True, slots=True)
class Slimmed:
    runs: int
    files_removed: int
    bytes_before: int
    bytes_after: int


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def slim_folder(folder: Path) -> Slimmed:
    """Remove every file of `folder/runs/*/` that the reports do not read (see KEPT)."""
    runs_root = folder / RUNS_DIR
    before = _size(runs_root) if runs_root.is_dir() else 0
    removed = 0
    run_dirs = sorted(p.parent for p in runs_root.glob(f"*/{RUN_FILE}"))
    for run_dir in run_dirs:
        for entry in sorted(run_dir.iterdir()):
            if entry.name in KEPT:
                continue
            if entry.is_dir() and not entry.is_symlink():
                removed += sum(1 for p in entry.rglob("*") if p.is_file())
                shutil.rmtree(entry)
            else:
                removed += 1
                entry.unlink()
        _drop_missing_artifacts(run_dir)
    return Slimmed(len(run_dirs), removed, before, _size(runs_root) if run_dirs else 0)


def _drop_missing_artifacts(run_dir: Path) -> None:
    path = run_dir / RUN_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    artifacts = record.get("artifacts")
    if not isinstance(artifacts, dict):
        return
    kept = {k: v for k, v in artifacts.items() if (run_dir / str(v)).exists()}
    if kept == artifacts:
        return
    record["artifacts"] = kept
    write_text(path, dumps(record))
