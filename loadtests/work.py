"""The work a load run measured, as the status replies showed it.

Two designs compare only at equal work: the same number of polled tasks, of the same
size, polled at the same rate. `WorkTracker` watches every status reply a scenario reads:

- readiness: the first moment at which the last N status replies in a row all showed
  at least `target_segments` (the size the scenario pre-grows its tasks to) or a task
  that had ended, N being the number of live tasks (created with `expect`, or polled).
  A queued or short task breaks the run of replies, so readiness waits for it; a task
  that ends and is replaced does not hold readiness back for good. The experiment
  runner starts the steady phase only then;
- per task, in the steady phase: its segment count and status reply size at the first and
  the last reply, how many replies there were, and how many were stale: showed fewer
  segments than a reply for that task already had (a poll served by another server
  process from an older copy of the task, e.g. memory-first's DB copy). A stale reply
  counts as a poll but says nothing of the task's size: the first and last sizes come
  from the replies that were not stale, so two processes still poll equal work.

A scenario whose tasks live their whole life inside the run (task churn, uploads:
created, grown from nothing, ended, replaced) says so with `reset(..., tasks_end_in_run=
True)`: their sizes then say where each task was in its life, and the work compared is
the number of tasks run and the polls served (profiling.verdict.comparable).

A scenario whose one request shows many tasks (the dashboard's task list) counts its
requests with `request()`: the polls served are then those requests, not the tasks each
reply listed (a list of 100 tasks is one request, not 100 polls).

The tab model's scenarios (each Locust user a browser tab on keep-alive connections)
also report their tabs: `tab_opened` (the connections a tab opened so far) and
`tab_polled` (a reply came back). The export's `connections` says how many the load
generator opened (in total, and the most one tab opened); `settled_at_s` is the first
moment when every tab had a reply to a poll meant for the steady phase and the tasks were
ready. From then on the server holds what this load makes it hold (each open connection's
last reply included): RSS growth is fitted from there (profiling.results.figures).

Load-generator processes each keep one; the master merges their `export()`s.
Nothing here imports locust or gevent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass(slots=True)
class _Task:
    live: bool = True
    start: tuple[int, int] | None = None  # (segments, status bytes) at the first steady reply
    end: tuple[int, int] | None = None
    polls: int = 0
    highest: int = -1  # the most segments any reply for this task showed so far
    stale: int = 0  # steady replies below `highest`


@dataclass(slots=True)
class WorkTracker:
    target_segments: int = 0
    steady_start_s: float | None = None
    ready_at_s: float | None = None
    tasks: dict[str, _Task] = field(default_factory=dict)
    streak: int = 0  # replies in a row at the target size or of an ended task
    requests: int | None = None  # steady requests, for a scenario that counts them
    tasks_end_in_run: bool = False  # the scenario's tasks are short: they end in the run
    tab_connections: dict[str, int] = field(default_factory=dict)  # tab -> connections opened
    tabs_polled: set[str] = field(default_factory=set)  # tabs with a steady reply
    settled_at_s: float | None = None

    def request(self, intended_s: float) -> None:
        """One request (of many tasks' replies) meant to go out at `intended_s`."""
        if self.steady_start_s is not None and intended_s >= self.steady_start_s:
            self.requests = (self.requests or 0) + 1

    def reset(self, target_segments: int, *, tasks_end_in_run: bool = False) -> None:
        self.target_segments = target_segments
        self.tasks_end_in_run = tasks_end_in_run
        self.steady_start_s = self.ready_at_s = None
        self.tasks.clear()
        self.streak = 0
        self.requests = None
        self.tab_connections.clear()
        self.tabs_polled.clear()
        self.settled_at_s = None

    def tab_opened(self, tab: str, connections: int) -> None:
        """Tab `tab` has opened `connections` connections so far (0: it just started)."""
        self.tab_connections[tab] = max(connections, self.tab_connections.get(tab, 0))

    def tab_polled(self, tab: str, intended_s: float, now_s: float) -> None:
        """A reply to tab `tab`'s poll meant for `intended_s` came back at `now_s`."""
        if self.steady_start_s is None or intended_s < self.steady_start_s:
            return
        self.tabs_polled.add(tab)
        if (
            self.settled_at_s is None
            and self.ready_at_s is not None
            and self.tabs_polled >= set(self.tab_connections)
        ):
            self.settled_at_s = max(now_s, self.ready_at_s)

    def expect(self, task_id: str) -> None:
        """A task the scenario created: readiness waits for it too."""
        self.tasks.setdefault(task_id, _Task())

    def observe(
        self, task_id: str, doc: Any, body_bytes: int, intended_s: float, now_s: float
    ) -> None:
        """One status reply (`doc` parsed) for a request meant to go out at `intended_s`."""
        if not isinstance(doc, dict):
            return
        count = doc.get("segment_count")
        if not isinstance(count, int):
            return
        task = self.tasks.get(task_id)
        if task is None:
            task = self.tasks[task_id] = _Task()
        task.live = doc.get("status") not in _TERMINAL
        stale = count < task.highest
        task.highest = max(task.highest, count)
        # A stale reply (another process's older copy) does not undo a size already shown.
        grown = task.highest >= self.target_segments
        self.streak = self.streak + 1 if not task.live or grown else 0
        if self.ready_at_s is None and self.streak >= self._live_count():
            self.ready_at_s = now_s
        if self.steady_start_s is not None and intended_s >= self.steady_start_s:
            task.polls += 1
            task.stale += stale
            if stale:
                return
            if task.start is None:
                task.start = (count, body_bytes)
            task.end = (count, body_bytes)

    def _live_count(self) -> int:
        return max(1, sum(1 for t in self.tasks.values() if t.live))

    def export(self) -> dict[str, Any]:
        """The JSON-ready `work` section of the load result (see loadtests.results)."""
        doc: dict[str, Any] = {
            "target_segments": self.target_segments,
            "ready_at_s": self.ready_at_s,
            "steady_start_s": self.steady_start_s,
            "tasks": {
                task_id: {
                    "segments_start": t.start[0],
                    "segments_end": t.end[0],
                    "status_bytes_start": t.start[1],
                    "status_bytes_end": t.end[1],
                    "polls": t.polls,
                    "stale_polls": t.stale,
                }
                for task_id, t in sorted(self.tasks.items())
                if t.start is not None and t.end is not None
            },
        }
        if self.requests is not None:
            doc["requests"] = self.requests
        if self.tasks_end_in_run:
            doc["tasks_end_in_run"] = True
        if self.tab_connections:
            opened = self.tab_connections.values()
            doc["connections"] = {
                "tabs": len(self.tab_connections),
                "opened": sum(opened),
                "max_per_tab": max(opened),
            }
            doc["settled_at_s"] = self.settled_at_s
        return doc


def merge_exports(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The master's view: tasks of every process; ready when every process was ready."""
    if not parts:
        return None
    ready = [p.get("ready_at_s") for p in parts]
    ready_at = None if None in ready else max(float(r) for r in ready if r is not None)
    starts = [p["steady_start_s"] for p in parts if p.get("steady_start_s") is not None]
    tasks: dict[str, Any] = {}
    for part in parts:
        tasks.update(part.get("tasks") or {})
    merged: dict[str, Any] = {
        "target_segments": max(int(p.get("target_segments") or 0) for p in parts),
        "ready_at_s": ready_at,
        "steady_start_s": min(starts) if starts else None,
        "tasks": dict(sorted(tasks.items())),
    }
    requests = [int(p["requests"]) for p in parts if p.get("requests") is not None]
    if requests:
        merged["requests"] = sum(requests)
    if any(p.get("tasks_end_in_run") for p in parts):
        merged["tasks_end_in_run"] = True
    conns = [p["connections"] for p in parts if p.get("connections")]
    if conns:
        merged["connections"] = {
            "tabs": sum(int(c["tabs"]) for c in conns),
            "opened": sum(int(c["opened"]) for c in conns),
            "max_per_tab": max(int(c["max_per_tab"]) for c in conns),
        }
        settled = [p.get("settled_at_s") for p in parts if p.get("connections")]
        merged["settled_at_s"] = (
            None if None in settled else max(float(t) for t in settled if t is not None)
        )
    return merged
