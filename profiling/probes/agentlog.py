"""memdiag's side of the in-process agent: the environment that injects it into a
server, and reading back the JSON lines it wrote (one `agent-<pid>.jsonl` per process).

The agent itself lives in `profiling/probes/agent/` and runs inside the server; this
module runs in memdiag. `profiling.results.decompose` turns the lines into figures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from profiling.probes.agent import AGENT_DIR

ENV_DIR = "MEMDIAG_AGENT_DIR"
ENV_INTERVAL = "MEMDIAG_AGENT_INTERVAL_S"
ENV_OPT_OUT = "MEMDIAG_NO_AGENT"
AGENT_FOLDER = "agent"  # in the run folder


def agent_env(env: Mapping[str, str], directory: Path, interval_s: float) -> dict[str, str]:
    """`env` with the agent's folder first on PYTHONPATH (its sitecustomize starts the
    agent, then chains to any other) and the agent told where to write."""
    out = dict(env)
    path = [str(AGENT_DIR)] + [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p]
    out["PYTHONPATH"] = os.pathsep.join(path)
    out[ENV_DIR] = str(directory)
    out[ENV_INTERVAL] = f"{interval_s:g}"
    return out


def opted_out(env: Mapping[str, str]) -> bool:
    return env.get(ENV_OPT_OUT, "").strip().lower() not in ("", "0", "false", "no")


def read_lines(path: Path) -> list[dict[str, Any]]:
    """One process's records; a line cut short by the process's end is skipped."""
    out = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("t"), int | float):
                out.append(record)
    return out


def read_agent_dir(directory: Path) -> dict[int, list[dict[str, Any]]]:
    """Every process's records, by pid (empty when the agent wrote nothing)."""
    found: dict[int, list[dict[str, Any]]] = {}
    for path in sorted(Path(directory).glob("agent-*.jsonl")):
        try:
            pid = int(path.stem.removeprefix("agent-"))
        except ValueError:
            continue
        if records := read_lines(path):
            found[pid] = records
    return found
