"""frontend-tabs: browser tabs watching transcriptions, each until it ends, again and again.

Each user is a browser tab (the tab model, loadtests.pacing.TabPacer): it polls the
status of the task it watches on a schedule of its own, every users / --poll-rate
seconds (once a second with memdiag's default of rate x --poll-interval-s tabs), on its
own keep-alive connection, opening another (up to 6) when a poll is due while its
previous one has not returned, so the total stays --poll-rate per second however slow the
server (an open model).

The tabs watch --watched-tasks tasks (total over processes), round-robin: several tabs on
one task, as a user with the task open in more than one tab, under that user's account.
The task count is fixed, not one per tab, because the server runs only a few tasks at
once (--workers 4): with one task per tab, most would wait in its queue, never reach
their size and never let the run get ready. When a watched task ends, the first tab to
see it reads the final result (the segment pages when the status view has none, as in
lean mode) and creates the next task (paced by --create-rate when it is > 0); the other
tabs move on to it.

Equal work by default: each task starts pre-grown (--initial-segments 300 of 8 words)
and trickles on at 0.5 segments/s for --segments 360 in all, so a tab watches a task of
nearly constant size for two minutes, and its next task comes back at the same size.

    locust -f loadtests/scenarios/frontend_tabs.py --host http://127.0.0.1:8080 \
        --headless -u 10 -r 10 -t 60s --poll-rate 10 --result-file out/load.json
"""

from __future__ import annotations

from typing import Any

import gevent
from _apiuser import TERMINAL, TabUser
from _memdiag import STATE, want
from gevent.event import Event
from locust import events, task

from loadtests.defaults import SCENARIO_DEFAULTS
from loadtests.pacing import split_evenly

want(
    "frontend_tabs",
    "poll_rate",
    "create_rate",
    "watched_tasks",
    "segments",
    "initial_segments",
    "segments_per_second",
    "words_per_segment",
    "seed",
    "view",
    "page_size",
    "poll_interval_s",
    streams={"poll": "poll_rate", "create": "create_rate"},
    **SCENARIO_DEFAULTS["frontend_tabs"],
)


class _Watched:
    """One watched task of this process: its owner's account and the current task."""

    def __init__(self) -> None:
        self.ready = Event()
        self.creating = False
        self.token = ""
        self.task_id: str | None = None
        self.replacing: set[str] = set()


WATCHED: list[_Watched] = []
_TABS = [0]  # tabs of this process so far: tab i watches task i mod the tasks


@events.test_start.add_listener
def _new_tasks(**_kw: Any) -> None:
    # A second test started from the web UI watches tasks of its own.
    WATCHED.clear()
    _TABS[0] = 0


class FrontendTab(TabUser):
    """One open browser tab watching a task (shared with the user's other tabs)."""

    def on_start(self) -> None:
        if not WATCHED:
            share = split_evenly(int(self.opts.watched_tasks), STATE.share_n, STATE.share_index)
            WATCHED.extend(_Watched() for _ in range(max(1, share)))
        self.watched = WATCHED[_TABS[0] % len(WATCHED)]
        _TABS[0] += 1
        w = self.watched
        if w.creating:
            w.ready.wait()
        else:
            w.creating = True
            w.token = self.sign_up()
            if w.token:
                w.task_id = self.create_task(self.paced("create"), token=w.token)
            w.ready.set()
        self.start_tab()

    @task
    def watch(self) -> None:
        if self.watched.task_id is None:
            gevent.sleep(1.0)  # sign-up or creation failed (already counted); do not spin
            return
        self.tab_send(self._poll)

    def _poll(self, intended_s: float, session: Any) -> None:
        w, task_id = self.watched, self.watched.task_id
        if task_id is None:
            return
        doc = self.poll(task_id, intended_s, token=w.token, session=session)
        if (
            isinstance(doc, dict)
            and doc.get("status") in TERMINAL
            and task_id not in w.replacing
            and w.task_id == task_id
        ):
            w.replacing.add(task_id)
            self.fetch_final(task_id, int(self.opts.segments), token=w.token, session=session)
            new_id = self.create_task(self.paced("create"), token=w.token, session=session)
            if new_id is not None:
                w.task_id = new_id
