"""Ask the in-process agent of every server process "who holds it", through files.

    reply = request_holders(run_dir / "agent", pids, timeout_s=120.0)
    reply.results   # {pid: the agent's find_holders() dict}
    reply.missing   # pids that did not answer in time

The exchange needs no port and no code in the server: the runner writes
`<agent dir>/holders-request.json` = `{"id": "<uuid>", "args": {...}}` atomically (a
temporary file renamed over it), and the agent in each server process (see
`profiling/probes/agent/holders.py`, loaded through the agent folder on PYTHONPATH)
answers with `<agent dir>/holders-<id>-<pid>.json`, the result of
`find_holders(**args)`. The walk stops the server's other threads (it holds the GIL
for seconds), so it is only asked for in attribution runs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiling.artefacts import write_json

REQUEST_FILE = "holders-request.json"
DEFAULT_ARGS: dict[str, int | float] = {
    "min_bytes": 65536,
    "top": 8,
    "max_depth": 8,
    "budget_s": 10.0,
    "tracemalloc_top": 15,
}


@dataclass(frozen=True, slots=True)
class HoldersReply:
    request_id: str
    args: dict[str, int | float]
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    missing: tuple[int, ...] = ()
    waited_s: float = 0.0

    def document(self) -> dict[str, Any]:
        """What the run folder keeps as holders.json."""
        return {
            "schema_version": 1,
            "request_id": self.request_id,
            "args": self.args,
            "processes": {str(pid): r for pid, r in sorted(self.results.items())},
            "missing_pids": list(self.missing),
            "waited_s": round(self.waited_s, 3),
        }


def reply_path(agent_dir: Path, request_id: str, pid: int) -> Path:
    return agent_dir / f"holders-{request_id}-{pid}.json"


def write_request(agent_dir: Path, args: Mapping[str, int | float] | None = None) -> str:
    """Write the request atomically (the agents poll for it); return its id."""
    agent_dir.mkdir(parents=True, exist_ok=True)
    request_id = uuid.uuid4().hex
    body = {"id": request_id, "args": dict(DEFAULT_ARGS if args is None else args)}
    write_json(agent_dir / REQUEST_FILE, body)
    return request_id


def _read_reply(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not there yet (an agent that writes in place may be half-way)
    return data if isinstance(data, dict) else None


def wait_replies(
    agent_dir: Path,
    request_id: str,
    pids: Sequence[int],
    *,
    args: Mapping[str, int | float] | None = None,
    timeout_s: float = 120.0,
    poll_s: float = 0.2,
    alive: Callable[[], None] | None = None,
) -> HoldersReply:
    """Wait (bounded) until every pid answered request `request_id`; `alive` is called
    between polls (the runner's check that the server still runs)."""
    start = time.monotonic()
    results: dict[int, dict[str, Any]] = {}
    while True:
        for pid in pids:
            if pid not in results and (r := _read_reply(reply_path(agent_dir, request_id, pid))):
                results[pid] = r
        waited = time.monotonic() - start
        if len(results) == len(pids) or waited >= timeout_s:
            break
        if alive is not None:
            alive()
        time.sleep(poll_s)
    return HoldersReply(
        request_id,
        dict(DEFAULT_ARGS if args is None else args),
        results,
        tuple(p for p in pids if p not in results),
        waited,
    )


def request_holders(
    agent_dir: Path,
    pids: Sequence[int],
    args: Mapping[str, int | float] | None = None,
    *,
    timeout_s: float = 120.0,
) -> HoldersReply:
    """Write a request and wait for every pid's answer."""
    request_id = write_request(agent_dir, args)
    return wait_replies(agent_dir, request_id, pids, args=args, timeout_s=timeout_s)
