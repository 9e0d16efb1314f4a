"""The progress display of a measuring command: the schedule's bar and the current run's.

`RichProgress` draws two bars on stderr (the whole schedule, and the phases of the run
being measured) and prints one line per finished run (`run_line`).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars

from profiling.results.folder import MIB, RunResult
from profiling.run.plans import Job, Progress


class RichProgress(Progress):
    """Two bars on stderr: the whole schedule, and the phases of the current run."""

    def __init__(self, total_runs: int, describe: Callable[[Job], str] | None = None) -> None:
        # `describe` names a run on its bar (ablate: which switch it measures).
        self.describe = describe
        self.console = Console(stderr=True)
        self.bars = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.total = self.bars.add_task("runs", total=total_runs, unit="runs")
        self.current: TaskID | None = None
        self.label = ""
        self.bars.start()

    def run_started(self, job: Job, total_s: float) -> None:
        self.label = f"{job.config.label} r{job.repeat}" + (
            f" ({job.profile})" if job.profile != "none" else ""
        )
        if self.describe is not None:
            self.label = self.describe(job)
        self.current = self.bars.add_task(f"{self.label}: starting", total=total_s, unit="s")

    def phase(self, name: str, elapsed_s: float) -> None:
        if self.current is not None:
            self.bars.update(self.current, completed=elapsed_s, description=f"{self.label}: {name}")

    def run_finished(self, run: RunResult | None) -> None:
        if self.current is not None:
            self.bars.remove_task(self.current)
            self.current = None
        self.bars.advance(self.total)
        if run is not None:
            self.console.print(run_line(run))

    def close(self) -> None:
        self.bars.stop()


def run_line(run: RunResult) -> str:
    server = run.memory.get("server")
    peak = server.kernel_peak_bytes if server else None
    parts = [
        f"{run.configuration} r{run.repeat}"
        + (f" ({run.profile})" if run.profile != "none" else "")
    ]
    parts.append(f"peak RSS {peak / MIB:.1f} MiB" if peak else "peak RSS n/a")
    if run.status is not None:
        parts.append(f"status p99 {run.status.p99_ms:.1f} ms")
    parts.append(f"{run.load.achieved_rate_per_s:.1f}/{run.load.target_rate_per_s:g} per s")
    if run.work is not None and run.work.connections_mean is not None:
        parts.append(f"{run.work.connections_mean:.0f} open connections")
    if run.rss_settled is False:
        parts.append("RSS had not settled (no growth quoted)")
    line = ", ".join(parts)
    return line if run.valid else line + " -- INVALID: " + "; ".join(run.invalid_reasons)
