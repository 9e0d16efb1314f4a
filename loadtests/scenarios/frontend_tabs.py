"""frontend-tabs: each user is a browser tab watching its own transcription.

A tab creates a synthetic task (size and pace from --segments / --segments-per-second),
polls its status until it ends, reads the final result (and, when the status view has
no segments, as in lean mode, the segment pages), then starts again.

Polls are paced globally: --poll-rate is the total per second over all tabs and
processes (an open model), so give enough users that some are always free
(users >= rate x latency). --create-rate paces task creation the same way; 0 lets a
tab start its next task as soon as the previous one ends.

Equal work by default: each task starts pre-grown (--initial-segments 300 of 8 words)
and trickles on at 0.5 segments/s for --segments 360 in all, so a tab watches a task of
nearly constant size for two minutes, and its next task comes back at the same size.

    locust -f loadtests/scenarios/frontend_tabs.py --host http://127.0.0.1:8080 \
        --headless -u 20 -r 20 -t 60s --poll-rate 20 --result-file out/load.json
"""

from __future__ import annotations

import gevent
from _apiuser import TERMINAL, ApiUser
from _memdiag import want
from locust import task

from loadtests.defaults import SCENARIO_DEFAULTS

want(
    "frontend_tabs",
    "poll_rate",
    "create_rate",
    "segments",
    "initial_segments",
    "segments_per_second",
    "words_per_segment",
    "seed",
    "view",
    "page_size",
    streams={"poll": "poll_rate", "create": "create_rate"},
    **SCENARIO_DEFAULTS["frontend_tabs"],
)


class FrontendTab(ApiUser):
    """One open browser tab."""

    max_failed_polls = 5

    def on_start(self) -> None:
        self.token = self.sign_up()

    @task
    def watch_one_task(self) -> None:
        if not self.token:
            gevent.sleep(1.0)  # sign-up failed (already counted); do not spin
            self.token = self.sign_up()
            return
        task_id = self.create_task(self.paced("create"))
        if task_id is None:
            gevent.sleep(1.0)
            return
        failed = 0
        while failed < self.max_failed_polls:
            doc = self.poll(task_id, self.paced("poll"))
            if doc is None:
                failed += 1
                continue
            if isinstance(doc, dict) and doc.get("status") in TERMINAL:
                break
        self.fetch_final(task_id, int(self.opts.segments))
