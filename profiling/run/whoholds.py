"""The `holders` attribution run: what its server needs, and asking it who holds its memory.

A `--profile holders` run starts the server with the in-process agent's environment:
`MEMDIAG_AGENT_DIR=<run folder>/agent` and the agent's folder first on PYTHONPATH.
tracemalloc is on only with `--holders-tracemalloc-frames N` (allocation sites and
"allocated at"): even one frame made a 1 MB json.dumps 5x slower (111 ms -> 572 ms),
and memory-first then no longer kept up with 10 polls/s. Late in the steady phase,
while the load still runs (so every open keep-alive connection, every request in
flight still holds what it holds), the runner asks every server process through
`profiling.probes.holdersclient`; after the steady phase it waits for the answers
(bounded), keeps them as `holders.json` and their summary in run.json. The walk stops
the server for seconds, so the run is attribution only: it never gates RSS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from profiling.artefacts import write_json
from profiling.probes import holdersclient
from profiling.probes.agentlog import AGENT_FOLDER
from profiling.probes.procmem import child_pids
from profiling.results.holding import holders_figures
from profiling.results.model import Holders

AGENT_DIR = AGENT_FOLDER  # under the run folder: where runner and agents exchange files
HOLDERS_FILE = "holders.json"
REPLY_TIMEOUT_S = 120.0
ASK_BEFORE_END_S = 5.0


@dataclass(frozen=True, slots=True)
class Asked:
    request_id: str
    pids: tuple[int, ...]


def holders_env(env: dict[str, str], tracemalloc_frames: int = 0) -> dict[str, str]:
    """The server's environment for a holders run, over the agent's own (which every run
    with the agent gets): tracemalloc only when asked for, for "allocated at"."""
    out = dict(env)
    if tracemalloc_frames > 0:
        out["PYTHONTRACEMALLOC"] = str(tracemalloc_frames)
    return out


def ask_at_s(steady_start_s: float, duration_s: float) -> float:
    """When to ask (monotonic clock): a few seconds before the steady phase ends, and
    not in its first half, so the answer describes the settled load."""
    return steady_start_s + max(duration_s / 2.0, duration_s - ASK_BEFORE_END_S)


def server_tree(pid: int) -> tuple[int, ...]:
    """The server and every process under it (workers of a multi-process server)."""
    found, todo = [pid], [pid]
    while todo:
        for child in child_pids(todo.pop()):
            if child not in found:
                found.append(child)
                todo.append(child)
    return tuple(found)


def ask(run_dir: Path, server_pid: int) -> Asked:
    request_id = holdersclient.write_request(run_dir / AGENT_DIR)
    return Asked(request_id, server_tree(server_pid))


def collect(
    run_dir: Path, asked: Asked, alive: Callable[[], None] | None = None
) -> tuple[Holders, str | None]:
    """Wait for the answers, keep them in holders.json; the figures, and why the run is
    invalid when no process answered."""
    reply = holdersclient.wait_replies(
        run_dir / AGENT_DIR, asked.request_id, asked.pids, timeout_s=REPLY_TIMEOUT_S, alive=alive
    )
    write_json(run_dir / HOLDERS_FILE, reply.document())
    problem = None
    if not reply.results:
        problem = (
            f"no server process answered the holders request within {REPLY_TIMEOUT_S:.0f}s"
            f" (no {AGENT_DIR}/holders-{asked.request_id}-<pid>.json): is the agent on the"
            " server's PYTHONPATH?"
        )
    return holders_figures(reply), problem
