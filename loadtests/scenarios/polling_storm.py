"""polling-storm: many pollers on a few large live tasks, the incident's trigger.

Each load-generator process owns its share of --storm-tasks synthetic tasks under one
account. Each user is a browser tab (the tab model, loadtests.pacing.TabPacer): it polls
the tasks round-robin on a schedule of its own, every users / --poll-rate seconds (once a
second with memdiag's default of rate x --poll-interval-s tabs), on its own keep-alive
connection, and opens another connection (up to 6) when a poll is due while its previous
one has not returned, so the total stays --poll-rate per second however slow the server
(an open model). The number of tabs is the number of connections the server holds open:
part of the work. A task that ends is checked (final segment count) and replaced by one of
the same size, so the tasks stay live for the whole run.

Equal work by default: the tasks start pre-grown (--initial-segments 1000 of 12 words,
about 1 MiB of BSON each) and trickle on at --segments-per-second 0.5, so in every design
the polled tasks have the same size, growing by about 3 % a minute. 1,000 is where the
size starts: memdiag's pre-flight (profiling/run/preflight.py) lowers it, the same for
every design of a run, until db-polling's per-poll work fits half a core of the machine
at hand; docs/findings.md, "Equal work, and the storm's task size", has the measurements.

    locust -f loadtests/scenarios/polling_storm.py --host http://127.0.0.1:8080 \
        --headless -u 10 -r 10 -t 60s --poll-rate 10 --result-file out/storm.json
"""

from __future__ import annotations

import itertools
from typing import Any

import gevent
from _apiuser import TERMINAL, TabUser
from _memdiag import STATE, want
from gevent.event import Event
from locust import events, task

from loadtests.defaults import SCENARIO_DEFAULTS
from loadtests.pacing import split_evenly

want(
    "polling_storm",
    "poll_rate",
    "storm_tasks",
    "segments",
    "initial_segments",
    "segments_per_second",
    "words_per_segment",
    "seed",
    "view",
    "page_size",
    "poll_interval_s",
    streams={"poll": "poll_rate"},
    **SCENARIO_DEFAULTS["polling_storm"],
)


class _Pool:
    """This process's live tasks and the account that owns them."""

    def __init__(self) -> None:
        self.ready = Event()
        self.creating = False
        self.token = ""
        self.tasks: list[str] = []
        self.replacing: set[str] = set()
        self.turn = itertools.count()

    def next_task(self) -> str:
        return self.tasks[next(self.turn) % len(self.tasks)]


POOL = _Pool()


@events.test_start.add_listener
def _new_pool(**_kw: Any) -> None:
    # A second test started from the web UI gets tasks of its own.
    global POOL
    POOL = _Pool()


class StormPoller(TabUser):
    """A browser tab polling the same few large tasks as every other tab."""

    def on_start(self) -> None:
        if POOL.creating:
            POOL.ready.wait()
            self.start_tab()
            return
        POOL.creating = True
        POOL.token = self.sign_up()
        share = split_evenly(int(self.opts.storm_tasks), STATE.share_n, STATE.share_index)
        for _ in range(max(1, share)):
            task_id = self.create_task(token=POOL.token)
            if task_id is not None:
                POOL.tasks.append(task_id)
        POOL.ready.set()
        self.start_tab()

    @task
    def poll_storm(self) -> None:
        if not POOL.tasks:
            gevent.sleep(1.0)  # the storm's tasks could not be created (already counted)
            return
        self.tab_send(self._poll_next)

    def _poll_next(self, intended_s: float, session: Any) -> None:
        task_id = POOL.next_task()
        doc = self.poll(task_id, intended_s, token=POOL.token, session=session)
        if (
            isinstance(doc, dict)
            and doc.get("status") in TERMINAL
            and task_id not in POOL.replacing
        ):
            POOL.replacing.add(task_id)
            self.fetch_final(task_id, int(self.opts.segments), token=POOL.token, session=session)
            new_id = self.create_task(token=POOL.token, session=session)
            if new_id is not None and task_id in POOL.tasks:
                POOL.tasks[POOL.tasks.index(task_id)] = new_id
