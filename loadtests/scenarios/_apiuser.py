"""`ApiUser`: the abstract base user of the memdiag scenarios.

Sign-up, paced sends (slots from the process's global `Pacer`), and requests that are
recorded into the HDR `Recorder` from their intended send time and validated; each
violated rule becomes a Locust failure named after it ("progress decreased", "foreign
data", ...), with the details logged a few times per rule.

`TabUser` is the tab model of the polling scenarios (loadtests.pacing.TabPacer): one
browser tab with its own schedule and its own keep-alive connections, one
`FastHttpSession` of one connection each, opening another (up to 6) when a poll is due
while the previous one has not returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent
import orjson
from _memdiag import STATE, WATCH, WORK, log
from gevent.event import Event
from gevent.pool import Group
from locust import FastHttpUser, constant
from locust.contrib.fasthttp import FastHttpSession

from loadtests.pacing import TabPacer
from loadtests.validate import (
    TERMINAL,
    Problem,
    check_final,
    check_segments_page,
    check_status_view,
)

__all__ = ["TERMINAL", "ApiUser", "TabUser", "log"]
_LOG_PER_KIND = 5


class ApiUser(FastHttpUser):
    """A client of the reference-server API: paced, recorded, validated requests."""

    abstract = True
    wait_time = constant(0)
    token = ""
    last_reply_bytes = 0  # body size of the last reply `call` read

    def __init__(self, environment: Any) -> None:
        # The reference server prints its base URL with a trailing slash; joined with
        # "/api/..." that would make a protocol-relative "//api/..." target.
        if self.host:
            self.host = self.host.rstrip("/")
        super().__init__(environment)

    @property
    def opts(self) -> Any:
        return self.environment.parsed_options

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def sign_up(self) -> str:
        """A fresh account (tokens are cached by the server, so this is a one-off cost)."""
        doc = self.call(
            "POST",
            "/api/users",
            name="POST /api/users",
            json={"name": "memdiag"},
            expect=(201, 200),
            auth=False,
        )
        if not isinstance(doc, dict) or "token" not in doc:
            return ""
        return str(doc["token"])

    def paced(self, stream: str) -> float:
        """Wait for this process's next slot of `stream`; return its intended send time."""
        pacer = STATE.pacers.get(stream)
        if pacer is None:
            return time.time()
        intended_s = pacer.claim()
        delay_s = intended_s - time.time()
        if delay_s > 0:
            gevent.sleep(delay_s)
        if STATE.recorder is not None:
            STATE.recorder.record_send(stream, intended_s, time.time())
        return intended_s

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        intended_s: float | None = None,
        expect: Iterable[int] = (200,),
        check: Callable[[Any], list[Problem]] | None = None,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        session: Any = None,
        **kwargs: Any,
    ) -> Any:
        """One request; returns the parsed JSON (None on an HTTP/transport failure).

        Its latency runs from `intended_s` (default: now) to the end of the body, into
        the HDR recorder; a wrong status or a `check` problem becomes a Locust failure
        named after the rule. `session`: the connection to send on (default self.client).
        """
        sent_s = time.time()
        intended_s = sent_s if intended_s is None else intended_s
        hdrs = {**(self.auth() if auth else {}), **(headers or {})}
        doc: Any = None
        failures: list[str] = []
        with (session or self.client).request(
            method,
            path,
            name=name,
            headers=hdrs,
            catch_response=True,
            context={"memdiag": True},
            **kwargs,
        ) as resp:
            done_s = time.time()
            self.last_reply_bytes = len(resp.content or b"")
            if resp.status_code not in tuple(expect):
                failures.append(
                    f"http {resp.status_code}" if resp.status_code else "connection error"
                )
                self._log(failures[0], f"{name}: {resp.status_code} {str(resp.text)[:200]}")
            else:
                try:
                    doc = orjson.loads(resp.content) if resp.content else None
                except orjson.JSONDecodeError:
                    failures.append("schema")
                    self._log("schema", f"{name}: body is not JSON")
                if check is not None and not failures:
                    for problem in check(doc):
                        failures.append(problem.kind.value)
                        self._log(problem.kind.value, f"{name}: {problem.detail}")
            if failures:
                resp.failure(failures[0])
            else:
                resp.success()
        if STATE.recorder is not None:
            STATE.recorder.record_request(name, intended_s, done_s, failures)
        return doc if resp.status_code in tuple(expect) else None

    def _log(self, kind: str, detail: str) -> None:
        STATE.logged[kind] += 1
        if STATE.logged[kind] <= _LOG_PER_KIND:
            log.warning("memdiag check failed [%s] %s", kind, detail)

    def synthetic_body(self) -> dict[str, Any]:
        o = self.opts
        return {
            "synthetic": {
                "segments": o.segments,
                "segments_per_second": o.segments_per_second,
                "words_per_segment": o.words_per_segment,
                "seed": o.seed,
                "initial_segments": min(int(getattr(o, "initial_segments", 0)), int(o.segments)),
            }
        }

    def create_task(
        self, intended_s: float | None = None, token: str | None = None, session: Any = None
    ) -> str | None:
        doc = self.call(
            "POST",
            "/api/tasks",
            name="POST /api/tasks",
            intended_s=intended_s,
            json=self.synthetic_body(),
            expect=(202, 201, 200),
            auth=False,
            headers=self.auth(token),
            session=session,
        )
        if isinstance(doc, dict) and isinstance(doc.get("task_id"), str):
            WORK.expect(doc["task_id"])
            return doc["task_id"]
        return None

    def poll(
        self,
        task_id: str,
        intended_s: float | None = None,
        token: str | None = None,
        name: str = "GET /api/tasks/{id}",
        session: Any = None,
    ) -> Any:
        """One status poll, checked for schema, ownership, progress and transitions."""
        floor = WATCH.floor(task_id)
        full = {"full": True, "summary": False}.get(self.opts.view)

        def check(doc: Any) -> list[Problem]:
            problems = check_status_view(doc, task_id, full=full)
            if isinstance(doc, dict):
                problems += WATCH.observe(task_id, floor, doc)
            return problems

        intended_s = time.time() if intended_s is None else intended_s
        doc = self.call(
            "GET",
            f"/api/tasks/{task_id}",
            name=name,
            intended_s=intended_s,
            check=check,
            auth=False,
            headers=self.auth(token),
            session=session,
        )
        WORK.observe(task_id, doc, self.last_reply_bytes, intended_s, time.time())
        return doc

    def fetch_final(
        self,
        task_id: str,
        expected_segments: int | None,
        token: str | None = None,
        session: Any = None,
    ) -> None:
        """What a tab does when the task ends: the final status, then segment pages
        when the status view does not carry them (lean)."""
        doc = self.poll(task_id, token=token, name="GET /api/tasks/{id} final", session=session)
        if not isinstance(doc, dict) or doc.get("status") not in TERMINAL:
            return
        problems = check_final(doc, expected_segments)
        if "segments" not in doc and doc.get("status") == "completed":
            got = self.fetch_pages(task_id, token, session)
            if got is not None and expected_segments is not None and got != expected_segments:
                problems += check_final({**doc, "segment_count": got}, expected_segments)
        for problem in problems:
            self.report_problem(problem)
        WATCH.forget(task_id)

    def report_problem(self, problem: Problem) -> None:
        """A check of a task's end that failed: a Locust failure named "task end"."""
        self._log(problem.kind.value, problem.detail)
        self.environment.events.request.fire(
            request_type="CHECK",
            name="task end",
            response_time=0,
            response_length=0,
            exception=Exception(problem.kind.value),
            context={"memdiag": True},
        )
        if STATE.recorder is not None:
            now_s = time.time()
            STATE.recorder.record_request("task end", now_s, now_s, [problem.kind.value])

    def fetch_pages(
        self, task_id: str, token: str | None = None, session: Any = None
    ) -> int | None:
        """Read every segment page; return how many segments there were."""
        offset, size, got = 0, max(1, int(self.opts.page_size)), 0
        while True:
            page = self.call(
                "GET",
                f"/api/tasks/{task_id}/segments?offset={offset}&limit={size}",
                name="GET /api/tasks/{id}/segments",
                auth=False,
                headers=self.auth(token),
                check=lambda d, o=offset: check_segments_page(d, o, size),
                session=session,
            )
            if not isinstance(page, dict) or not isinstance(page.get("segments"), list):
                return None
            got += len(page["segments"])
            offset += size
            if not page["segments"] or offset >= int(page.get("total", 0)):
                return got


class TabUser(ApiUser):
    """A browser tab: polls on its own schedule, on its own keep-alive connection(s).

    `tab_send(send)` waits for the tab's next slot and runs `send(intended_s, session)` in
    a greenlet of its own, on an idle connection of the tab, or a new one when every open
    one still waits for its reply (at most 6, like a browser); the tab's loop never waits
    for a reply, so a slow server still gets its polls on time.
    """

    abstract = True
    concurrency = 1  # one connection per FastHttpSession: a session is a connection
    tab_share = 1.0  # of the run's users, the share that are tabs (soak mixes in others)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.tab: TabPacer | None = None
        self.tab_id = ""
        self.sessions: list[Any] = [self.client]
        self.in_flight = Group()
        self.returned = Event()

    def start_tab(self) -> None:
        """Join the schedule: tab g of the run's tabs, every tabs / rate seconds."""
        local = STATE.tabs_started
        STATE.tabs_started += 1
        users = int(getattr(self.opts, "num_users", 0) or 1)
        tabs = max(1, round(users * self.tab_share))
        index = (local * STATE.share_n + STATE.share_index) % tabs
        self.tab_id = f"{STATE.share_index}:{local}"
        self.tab = TabPacer.for_tab(
            index, tabs, float(self.opts.poll_rate), STATE.tab_start_s, not_before_s=time.time()
        )
        WORK.tab_opened(self.tab_id, 0)

    def on_stop(self) -> None:
        self.in_flight.kill(block=False)

    def _session(self, index: int) -> Any:
        while len(self.sessions) <= index:
            self.sessions.append(
                FastHttpSession(
                    base_url=self.host,
                    request_event=self.environment.events.request,
                    user=self,
                    network_timeout=self.network_timeout,
                    connection_timeout=self.connection_timeout,
                    max_retries=self.max_retries,
                    concurrency=1,
                )
            )
        return self.sessions[index]

    def tab_send(self, send: Callable[[float, Any], Any]) -> None:
        if self.tab is None:
            self.start_tab()
        assert self.tab is not None
        intended_s = self.tab.claim()
        delay_s = intended_s - time.time()
        if delay_s > 0:
            gevent.sleep(delay_s)
        while (conn := self.tab.acquire()) is None:
            self.returned.clear()  # all six busy: wait for one to return (a late send)
            self.returned.wait(1.0)
        WORK.tab_opened(self.tab_id, self.tab.opened)
        if STATE.recorder is not None:
            STATE.recorder.record_send("poll", intended_s, time.time())
        self.in_flight.spawn(self._send_on, send, intended_s, conn)

    def _send_on(self, send: Callable[[float, Any], Any], intended_s: float, conn: int) -> None:
        assert self.tab is not None
        try:
            send(intended_s, self._session(conn))
        finally:
            self.tab.release(conn)
            self.returned.set()
            WORK.tab_polled(self.tab_id, intended_s, time.time())
