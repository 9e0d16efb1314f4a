"""After a run: the in-process agent's lines become the run's RSS decomposition.

The agent (`profiling/probes/agent/`) wrote `agent-<pid>.jsonl` per server process
into the run folder's `agent/`; this writes `agent.csv` (the parts over time, on
rss.csv's clock) beside rss.csv and returns the steady phase's `RssBreakdown`.
"""

from __future__ import annotations

from pathlib import Path

from profiling.probes.agentlog import read_agent_dir
from profiling.results.decompose import RssBreakdown, breakdown, parts_csv
from profiling.results.folder import PARTS_FILE


def collect(
    agent_dir: Path,
    run_dir: Path,
    server_pid: int,
    processes: int,
    interval_s: float,
    steady_epoch_s: tuple[float, float] | None,
    clock_epoch_s: float,
) -> tuple[RssBreakdown | None, str | None]:
    """The breakdown (None without steady samples), and a problem to record, if any.

    With one server process only its own lines count, as the sampler then leaves
    children (a diarization child, multiprocessing's helpers) out; with several,
    every process's lines are summed, as the sampler sums the process tree.
    """
    by_pid = read_agent_dir(agent_dir)
    if processes == 1:
        by_pid = {pid: v for pid, v in by_pid.items() if pid == server_pid}
    if not by_pid:
        return None, (
            f"the memory agent wrote nothing for the server in {agent_dir} (see server.log);"
            " rerun with --no-agent to measure without it"
        )
    if steady_epoch_s is None:
        return None, None
    found, points = breakdown(by_pid, server_pid, interval_s, steady_epoch_s, clock_epoch_s)
    (run_dir / PARTS_FILE).write_text(parts_csv(points), encoding="utf-8")
    return found, None
