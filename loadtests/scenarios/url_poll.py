"""url-poll: the given URLs polled round-robin at a fixed total rate, like a frontend tab.

The scenario for a user's own server when there is no locustfile: `memdiag compare
--server app='...' --poll 'GET /status' --poll 'GET /items'` sends `--request-rate`
requests per second in total (open model: paced from intended send times, so a slow
build is not spared load), cycling through the `--poll` list ("METHOD /path" items
joined by "|"). Any 2xx answer counts; the body is read but not parsed, since a user's
endpoint need not speak JSON. Latencies go into the same HDR result as the built-in
scenarios'; nothing is pre-grown, so the steady phase may start at once.

    locust -f loadtests/scenarios/url_poll.py --host http://127.0.0.1:8080 --headless \
        -u 20 -t 30s --request-rate 10 --poll 'GET /|GET /items' --result-file out.json
"""

from __future__ import annotations

import itertools
import time

from _apiuser import ApiUser
from _memdiag import STATE, want
from locust import task

want("url_poll", "request_rate", "poll", streams={"poll": "request_rate"})


def _targets(text: str) -> list[tuple[str, str]]:
    """'GET /a|POST /b' -> [("GET", "/a"), ("POST", "/b")]; a bare path is a GET."""
    out = []
    for item in (part.strip() for part in text.split("|")):
        if not item:
            continue
        method, _, path = item.partition(" ")
        if not path:
            method, path = "GET", method
        out.append((method.upper(), path.strip() if path.startswith("/") else "/" + path.strip()))
    return out or [("GET", "/")]


_TURN = itertools.count()


class UrlPoller(ApiUser):
    """One tab's worth of polls; all users share the process's pacing slots."""

    @task
    def poll_url(self) -> None:
        targets = _targets(str(self.opts.poll))
        method, path = targets[next(_TURN) % len(targets)]
        intended_s = self.paced("poll")
        name = f"{method} {path}"
        failures: list[str] = []
        with self.client.request(
            method, path, name=name, catch_response=True, context={"memdiag": True}
        ) as resp:
            done_s = time.time()
            if not 200 <= resp.status_code < 300:
                failures.append(
                    f"http {resp.status_code}" if resp.status_code else "connection error"
                )
                resp.failure(failures[0])
            else:
                resp.success()
        if STATE.recorder is not None:
            STATE.recorder.record_request(name, intended_s, done_s, failures)
