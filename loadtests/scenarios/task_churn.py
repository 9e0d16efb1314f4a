"""task-churn: many short tasks that end every way a task can end, one tab each.

A tab creates a short synthetic task, polls it (--poll-rate in total, an open model)
until it ends, and starts the next. Of every ten tasks, --cancel-share x 10 are
cancelled by the tab once they run (POST /api/tasks/{id}/cancel) and --fail-share x 10
fail inside the worker half-way (the synthetic engine's `fail_after`); the rest
complete. Each end is checked: a cancelled task must end cancelled, a failing one
failed, a completed one with every segment. What the server keeps of ended tasks (the
four per-task dicts, RSS after the churn) is what incident changes 6 and 8 are about.

    locust -f loadtests/scenarios/task_churn.py --host http://127.0.0.1:8080 \
        --headless -u 8 -r 8 -t 60s --poll-rate 8 --result-file out/churn.json
"""

from __future__ import annotations

import itertools
from typing import Any

import gevent
from _apiuser import TERMINAL, ApiUser
from _memdiag import WATCH, want
from locust import task

from loadtests.defaults import SCENARIO_DEFAULTS
from loadtests.validate import Kind, Problem

want(
    "task_churn",
    "poll_rate",
    "segments",
    "initial_segments",
    "segments_per_second",
    "words_per_segment",
    "seed",
    "view",
    "page_size",
    "cancel_share",
    "fail_share",
    streams={"poll": "poll_rate"},
    tasks_end_in_run=True,  # short tasks: the work is the tasks run, not their size
    **SCENARIO_DEFAULTS["task_churn"],
)
_turn = itertools.count()


def fate(n: int, cancel_share: float, fail_share: float) -> str:
    """The n-th task's end, spread evenly: of every ten, the first shares cancel/fail."""
    slot = (n % 10) / 10
    if slot < cancel_share:
        return "cancelled"
    return "failed" if slot < cancel_share + fail_share else "completed"


class ChurnTab(ApiUser):
    """A tab whose tasks are short, and not all of them finish."""

    max_failed_polls = 5

    def on_start(self) -> None:
        self.token = self.sign_up()
        self.fail_after: int | None = None

    def synthetic_body(self) -> dict[str, Any]:
        body = super().synthetic_body()
        if self.fail_after is not None:
            body["synthetic"]["fail_after"] = self.fail_after
        return body

    @task
    def one_short_task(self) -> None:
        if not self.token:
            gevent.sleep(1.0)
            self.token = self.sign_up()
            return
        end = fate(next(_turn), float(self.opts.cancel_share), float(self.opts.fail_share))
        self.fail_after = int(self.opts.segments) // 2 if end == "failed" else None
        task_id = self.create_task()
        if task_id is None:
            gevent.sleep(1.0)
            return
        failed, doc = 0, None
        while failed < self.max_failed_polls:
            doc = self.poll(task_id, self.paced("poll"))
            if doc is None:
                failed += 1
                continue
            status = doc.get("status") if isinstance(doc, dict) else None
            if status in TERMINAL:
                break
            if end == "cancelled" and status == "transcribing":
                # 409: it ended first (a short task can); the end check below says how.
                self.call(
                    "POST",
                    f"/api/tasks/{task_id}/cancel",
                    name="POST /api/tasks/{id}/cancel",
                    expect=(200, 409),
                )
        if end == "completed":
            self.fetch_final(task_id, int(self.opts.segments))
            return
        final = self.poll(task_id, name="GET /api/tasks/{id} final")
        WATCH.forget(task_id)
        # A short task may complete before its cancel lands; any other end is wrong.
        if isinstance(final, dict) and final.get("status") not in (end, "completed"):
            detail = f"task {task_id} ended {final.get('status')}, expected {end}"
            self.report_problem(Problem(Kind.TASK_FAILED, detail))
