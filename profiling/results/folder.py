"""Run folders and `summary.json`: the layout, the schema, and typed loading.

A run folder (default `reports/<UTC timestamp>-<name>/`) looks like this::

    summary.json          every run's figures, medians per configuration, verdicts
    report.md             ready to paste into a review
    report.html           self-contained, plots embedded
    runs/<NN>-<config>-r<k>/
        run.json          one measured run: figures, validity and reasons (RunResult)
        rss.csv           RSS timeline (the probes' sampler CSV; memdiag reads its t_s,
                          label and rss_bytes columns; label: server, db, loadgen)
        agent.csv         the RSS decomposition over time (profiling.results.decompose),
                          from agent/agent-<pid>.jsonl, the in-process agent's lines
        ...               raw probe output (load JSON, Locust CSVs, /metrics scrapes,
                          tracemalloc diffs, memray flamegraphs), named in run.json
                          `artifacts` by path relative to the run's folder

`run.json` and `summary.json` carry `schema_version` and are validated on load; an
error names the file and the field. `summary.json`'s `runs` entries are `run.json`
records plus `dir` (the run's folder relative to the summary), so a summary copied
anywhere still reports; the RSS timelines come along when the run folders do.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from profiling.artefacts import dumps
from profiling.errors import UsageError
from profiling.results.decompose import PartsPoint, RssBreakdown, RssParts, parse_parts_csv
from profiling.results.model import (
    MIB,
    AllocationSite,
    CommandCount,
    DbCalibration,
    DbFigures,
    EndpointLatency,
    Environment,
    HeapFigures,
    HolderGroup,
    Holders,
    InFlight,
    LoadFigures,
    Phases,
    PreflightFigures,
    ProcessMemory,
    RequestPeaks,
    RunResult,
    Scenario,
    Series,
    TreeProcess,
    WorkFigures,
)
from profiling.results.record import run_from_record
from profiling.results.validate import Fields, SchemaError

__all__ = [  # the run types are re-exported: import them from here
    "MIB",
    "AllocationSite",
    "CommandCount",
    "DbCalibration",
    "DbFigures",
    "EndpointLatency",
    "Environment",
    "HeapFigures",
    "HolderGroup",
    "Holders",
    "InFlight",
    "LoadFigures",
    "PartsPoint",
    "Phases",
    "PreflightFigures",
    "ProcessMemory",
    "RequestPeaks",
    "RssBreakdown",
    "RssParts",
    "RunResult",
    "Scenario",
    "Series",
    "TreeProcess",
    "WorkFigures",
    "run_from_record",
]

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
SUMMARY_FILE = "summary.json"
TIMELINE_FILE = "rss.csv"
PARTS_FILE = "agent.csv"  # the RSS decomposition over time (profiling.results.decompose)
RUNS_DIR = "runs"


# --- writing -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def run_record(run: RunResult) -> dict[str, Any]:
    """The JSON record of a run (without timeline; with `dir` only when it is set)."""
    record = _plain(run)
    del record["timeline"]
    del record["rss_parts_timeline"]
    if run.rss_parts is None:
        del record["rss_parts"]  # added later: older records and goldens lack it
    if run.dir is None:
        del record["dir"]
    if run.live_entries is None:
        del record["live_entries"]  # added later: older records and goldens lack it
    if run.request_peaks is None:
        del record["request_peaks"]  # likewise (attribution runs only)
    if run.preflight is None:
        del record["preflight"]  # likewise (runs without a pre-flight)
    if run.holders is None:
        del record["holders"]  # likewise (holders attribution runs only)
    if not run.server_tree:
        del record["server_tree"]  # likewise (servers of several processes only)
    for memory in record["memory"].values():
        if memory["pss_peak_bytes"] is None:
            del memory["pss_peak_bytes"]  # likewise
    if run.work is not None and run.work.stale_polls is None:
        del record["work"]["stale_polls"]  # the same
    if run.work is not None and not run.work.tasks_end_in_run:
        del record["work"]["tasks_end_in_run"]  # the same
    if run.work is not None and run.work.connections_max is None:
        del record["work"]["connections_max"]  # the same
        del record["work"]["connections_mean"]
    if run.work is not None and run.work.tabs is None:
        del record["work"]["tabs"]  # the same
    for key in ("settled_after_s", "rss_settled"):
        if record[key] is None:
            del record[key]  # the same
    return dict(record)


def run_json(run: RunResult) -> str:
    return dumps({"schema_version": SCHEMA_VERSION, "kind": "memdiag-run", **run_record(run)})


def timeline_csv(timeline: Mapping[str, Series]) -> str:
    lines = ["t_s,label,rss_bytes"]
    for process, series in timeline.items():
        lines += [
            f"{t:.3f},{process},{b}" for t, b in zip(series.t_s, series.rss_bytes, strict=True)
        ]
    return "\n".join(lines) + "\n"


# --- reading -------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing file is a usage error (exit 2), bad JSON a schema one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"No such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, expected a JSON file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def check_version(f: Fields, kind: str) -> None:
    version = f.int_("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{f.where}: schema_version {version} is not supported (this memdiag reads "
            f"{SCHEMA_VERSION}); re-render it with the memdiag that wrote it"
        )
    if f.has("kind") and f.str_("kind") != kind:
        raise SchemaError(f"{f.where}: field kind: expected {kind!r}, got {f.str_('kind')!r}")


def load_timeline(path: Path) -> dict[str, Series]:
    """Read rss.csv's t_s, label and rss_bytes columns; an absent file is no timeline."""
    if not path.is_file():
        return {}
    points: dict[str, tuple[list[float], list[int]]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or ())
        label_column = "label" if "label" in columns else "process"
        missing = {"t_s", label_column, "rss_bytes"} - columns
        if missing:
            raise SchemaError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                t, rss = float(row["t_s"]), int(float(row["rss_bytes"]))
            except (TypeError, ValueError):
                raise SchemaError(
                    f"{path}: line {line}: t_s and rss_bytes must be numbers"
                ) from None
            ts, values = points.setdefault(row[label_column] or "server", ([], []))
            ts.append(t)
            values.append(rss)
    return {k: Series(tuple(t), tuple(v)) for k, (t, v) in points.items()}


def load_parts_timeline(path: Path) -> tuple[PartsPoint, ...]:
    """Read agent.csv; an absent file is no decomposition timeline."""
    if not path.is_file():
        return ()
    try:
        return parse_parts_csv(path.read_text(encoding="utf-8"), str(path))
    except ValueError as exc:
        raise SchemaError(str(exc)) from None


def load_run(run_dir: Path) -> RunResult:
    """Parse one run's folder: run.json (validated) and its rss.csv timeline."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"No such run folder: {run_dir}")
    path = run_dir / RUN_FILE
    f = Fields(read_json(path), str(path))
    check_version(f, "memdiag-run")
    run = run_from_record(f)
    return _with(
        run,
        timeline=load_timeline(run_dir / TIMELINE_FILE),
        rss_parts_timeline=load_parts_timeline(run_dir / PARTS_FILE),
    )


def _with(run: RunResult, **changes: Any) -> RunResult:
    return replace(run, **changes)


def load_runs(folder: Path) -> list[RunResult]:
    """Every run under `folder/runs/`, in schedule order, each with its `dir` set."""
    runs_root = Path(folder) / RUNS_DIR
    found = sorted(p.parent for p in runs_root.glob(f"*/{RUN_FILE}"))
    runs = [_with(load_run(d), dir=f"{RUNS_DIR}/{d.name}") for d in found]
    return sorted(runs, key=lambda r: r.order)


@dataclass(frozen=True, slots=True)
class Summary:
    """A loaded summary.json: its runs (with timelines when their folders are beside it)."""

    path: Path
    name: str
    valid: bool
    runs: tuple[RunResult, ...]


def summary_path(target: Path) -> Path:
    """A run folder or a summary.json -> the summary.json path (usage error if neither)."""
    target = Path(target)
    if target.is_dir():
        return target / SUMMARY_FILE
    if not target.exists():
        raise UsageError(f"No such run folder or summary file: {target}")
    return target


def load_summary(path: Path) -> Summary:
    path = summary_path(path)
    f = Fields(read_json(path), str(path))
    check_version(f, "memdiag-summary")
    f.mapping("configurations", optional=False)
    f.objects("verdicts")
    runs = []
    for record in f.objects("runs"):
        run = run_from_record(record)
        if run.dir is not None:
            folder = path.parent / run.dir
            run = _with(
                run,
                timeline=load_timeline(folder / TIMELINE_FILE),
                rss_parts_timeline=load_parts_timeline(folder / PARTS_FILE),
            )
        runs.append(run)
    if not runs:
        raise SchemaError(f"{path}: field runs: expected at least one run, got an empty list")
    return Summary(path, f.opt_str("name") or path.parent.name, f.bool_("valid"), tuple(runs))


def load_any(target: Path) -> list[RunResult]:
    """Runs from a run folder (its runs/ when present, else its summary) or a summary file."""
    target = Path(target)
    if target.is_dir() and (target / RUNS_DIR).is_dir():
        runs = load_runs(target)
        if runs:
            return runs
    if target.is_dir() and (target / RUN_FILE).is_file():
        return [load_run(target)]
    return list(load_summary(target).runs)


def rebase_dirs(runs: list[RunResult], source: Path, target: Path) -> list[RunResult]:
    """Make each run's `dir` (relative to `source`) relative to `target` instead, so the
    links of a report written elsewhere still reach the raw files."""
    rebased = []
    for run in runs:
        if run.dir is not None:
            absolute = (Path(source) / run.dir).resolve()
            target_abs = Path(target).resolve()
            run = _with(run, dir=Path(os.path.relpath(absolute, target_abs)).as_posix())
        rebased.append(run)
    return rebased
