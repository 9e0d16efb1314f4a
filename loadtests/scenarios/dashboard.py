"""dashboard: users listing their tasks (`GET /api/tasks`) at a fixed rate while tasks run.

Each user has its own account and keeps --tasks-per-user synthetic tasks running (a
new batch when none is active). Lists are paced globally at --list-rate per second.
Each list is checked: shape, counts, no segments in the entries, and only this user's
tasks (no foreign data). The tasks start pre-grown (--initial-segments 300 of --segments
360, trickling at 0.5/s) so every design lists tasks of the same size; the list entries'
segment counts are the work this scenario reports (with the list reply's size).

    locust -f loadtests/scenarios/dashboard.py --host http://127.0.0.1:8080 \
        --headless -u 5 -r 5 -t 60s --list-rate 5 --result-file out/dash.json
"""

from __future__ import annotations

import time

import gevent
from _apiuser import ApiUser
from _memdiag import WORK, want
from locust import task

from loadtests.defaults import SCENARIO_DEFAULTS
from loadtests.validate import check_task_list

want(
    "dashboard",
    "list_rate",
    "tasks_per_user",
    "segments",
    "initial_segments",
    "segments_per_second",
    "words_per_segment",
    "seed",
    streams={"list": "list_rate"},
    **SCENARIO_DEFAULTS["dashboard"],
)


class DashboardUser(ApiUser):
    """A dashboard page that refreshes the user's task list."""

    def on_start(self) -> None:
        self.token = self.sign_up()
        self.own: set[str] = set()
        self.start_batch()

    def start_batch(self) -> None:
        for _ in range(int(self.opts.tasks_per_user)):
            if task_id := self.create_task():
                self.own.add(task_id)

    @task
    def refresh(self) -> None:
        if not self.token:
            gevent.sleep(1.0)
            return
        intended_s = self.paced("list")
        doc = self.call(
            "GET",
            "/api/tasks",
            name="GET /api/tasks",
            intended_s=intended_s,
            check=lambda d: check_task_list(d, self.own),
        )
        WORK.request(intended_s)
        if isinstance(doc, dict):
            for entry in doc.get("active_tasks") or []:
                if isinstance(entry, dict) and entry.get("task_id") in self.own:
                    WORK.observe(
                        entry["task_id"], entry, self.last_reply_bytes, intended_s, time.time()
                    )
        if isinstance(doc, dict) and doc.get("active_count") == 0:
            self.start_batch()
