"""Shared Locust machinery for the memdiag scenarios: options, open-model pacing, results.

Every scenario locustfile imports this module (its name starts with "_", so
`locust -f loadtests/scenarios/` does not take it for a locustfile). It provides:

- custom arguments (`want(...)`): `--poll-rate` / env `MEMDIAG_POLL_RATE` and friends,
  registered through `init_command_line_parser`, so they show in the web UI and travel
  from master to workers;
- one `Pacer` per paced stream per process; with N workers each paces rate / N,
  offset so that sends interleave, and the master tells each worker N and its index
  (a custom message sent from `test_start`, which Locust delivers before the spawn);
- an HDR `Recorder` per process; workers ship it in `report_to_master`, the master
  merges it in `worker_report`, and the master (or the local runner) writes the result
  JSON on `quitting`;
- `ApiUser`, the abstract base user: sign-up, paced sends, recorded and validated
  requests whose violations become Locust failures named by rule.

Requests made outside `ApiUser.call` (a user's own locustfile loaded together with this
file) are recorded from Locust's `request` event, timed from the actual send.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import gevent
import orjson
import psutil
from locust import FastHttpUser, constant, events
from locust.runners import MasterRunner, WorkerRunner

try:  # the repo root is not on sys.path when locust runs a file from a checkout
    from loadtests.pacing import Pacer
except ImportError:  # pragma: no cover - depends on how memdiag was installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from loadtests.pacing import Pacer
from loadtests.recorder import Recorder
from loadtests.validate import (
    TERMINAL,
    Problem,
    TaskWatch,
    check_final,
    check_segments_page,
    check_status_view,
)

log = logging.getLogger("memdiag.load")
SHARE_MESSAGE = "memdiag_share"
_LOG_PER_KIND = 5

# name -> (type, default, help). One option, three spellings: --poll-rate,
# options.poll_rate, MEMDIAG_POLL_RATE.
OPTIONS: dict[str, tuple[type, Any, str]] = {
    "result_file": (str, "", "write the memdiag JSON result (HDR latencies) to this file"),
    "warmup_s": (float, 0.0, "seconds after start whose requests are left out of 'steady'"),
    "late_threshold_ms": (float, 10.0, "a paced send later than this counts as a late send"),
    "poll_rate": (float, 10.0, "status polls per second, total over all users and processes"),
    "create_rate": (float, 0.0, "task creations per second in total (0: when a tab is free)"),
    "list_rate": (float, 2.0, "task-list requests per second, total"),
    "upload_rate": (float, 0.2, "audio uploads per second, total"),
    "segments": (int, 60, "segments per synthetic task"),
    "segments_per_second": (float, 20.0, "pace of a synthetic task (task lasts segments/pace)"),
    "words_per_segment": (int, 8, "words per synthetic segment"),
    "seed": (int, 1, "seed of the synthetic engine"),
    "view": (str, "auto", "status view expected: full (with segments), summary, or auto"),
    "page_size": (int, 100, "segments per page when fetching a finished task's segments"),
    "storm_tasks": (int, 4, "large live tasks polled by the storm, total over processes"),
    "tasks_per_user": (int, 2, "tasks each dashboard user keeps running"),
    "audio_dir": (str, "", "folder of audio files to upload (wav, mp3, ...)"),
    "expect_upload_status": (str, "completed", "end state of an upload: completed|failed|any"),
    "upload_engine": (str, "", "engine field sent with each upload (empty: server default)"),
    "poll_interval_s": (float, 1.0, "seconds between an uploader's polls of its own task"),
}
_wanted: dict[str, Any] = {}  # option name -> default for this locustfile
_streams: dict[str, str] = {}  # paced stream -> its rate option
SCENARIO = {"name": "custom"}


def want(
    scenario: str, *names: str, streams: dict[str, str] | None = None, **defaults: Any
) -> None:
    """Called by a scenario module at import: its options, paced streams, own defaults."""
    SCENARIO["name"] = scenario  # the last call wins: soak imports the others first
    for name in ("result_file", "warmup_s", "late_threshold_ms", *names):
        _wanted.setdefault(name, OPTIONS[name][1])
    _wanted.update(defaults)
    _streams.update(streams or {})


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    # parser.add_argument, not an argument group's: only the former puts the option in
    # the web UI (LocustArgumentParser tracks it there).
    for name in sorted(set(_wanted) | {"result_file", "warmup_s", "late_threshold_ms"}):
        kind, default, text = OPTIONS[name]
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=_wanted.get(name, default),
            env_var="MEMDIAG_" + name.upper(),
            help=text,
        )


class _Process:
    """What one load-generator process keeps between events."""

    def __init__(self) -> None:
        self.recorder: Recorder | None = None
        self.pacers: dict[str, Pacer] = {}
        self.targets: dict[str, float] = {}
        self.share_n, self.share_index = 1, 0
        self.stopped_at_s: float | None = None
        self.workers: dict[str, dict[str, Any]] = {}  # client id -> its latest process stats
        self.logged: Counter[str] = Counter()
        self.master_start_s: float | None = None
        self._proc = psutil.Process()
        self.cpu_start_s = 0.0
        self.cpu_max = 0.0

    @property
    def proc(self) -> psutil.Process:
        # --processes forks workers after this module was imported: follow the pid.
        if self._proc.pid != os.getpid():
            self._proc = psutil.Process()
        return self._proc

    def stats(self, role: str) -> dict[str, Any]:
        cpu = self.proc.cpu_times()
        elapsed_s = max(1e-9, time.time() - (self.recorder.started_at_s if self.recorder else 0))
        cpu_s = cpu.user + cpu.system - self.cpu_start_s
        return {
            "role": role,
            "pid": self.proc.pid,
            "cpu_s": cpu_s,
            "cpu_percent_mean": 100.0 * cpu_s / elapsed_s,
            "cpu_percent_max": self.cpu_max,
            "rss_bytes": self.proc.memory_info().rss,
            "peak_rss_bytes": _peak_rss_bytes(),
        }


STATE = _Process()
WATCH = TaskWatch()


def _peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _sample_cpu() -> None:
    STATE.proc.cpu_percent()
    while True:
        gevent.sleep(1.0)
        STATE.cpu_max = max(STATE.cpu_max, STATE.proc.cpu_percent())


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    gevent.spawn(_sample_cpu)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):

        def on_share(environment: Any, msg: Any, **_kw: Any) -> None:
            STATE.share_n, STATE.share_index = int(msg.data["n"]), int(msg.data["index"])
            STATE.master_start_s = float(msg.data["start_s"])

        runner.register_message(SHARE_MESSAGE, on_share)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kw: Any) -> None:
    opts = environment.parsed_options
    runner = environment.runner
    now_s = time.time()
    if isinstance(runner, WorkerRunner) and STATE.master_start_s is not None:
        # One schedule for all processes: a worker's users arrive a little after the
        # master started the test; starting its slots at the master's start time makes
        # it catch up instead of sending less than its share over the master's window.
        now_s, STATE.master_start_s = STATE.master_start_s, None
    STATE.recorder = Recorder(
        started_at_s=now_s,
        warmup_s=float(getattr(opts, "warmup_s", 0.0)),
        late_threshold_s=float(getattr(opts, "late_threshold_ms", 10.0)) / 1000.0,
    )
    STATE.stopped_at_s = None
    STATE.workers.clear()
    STATE.cpu_max = 0.0
    cpu = STATE.proc.cpu_times()
    STATE.cpu_start_s = cpu.user + cpu.system
    rates = {s: float(getattr(opts, opt, 0.0) or 0.0) for s, opt in _streams.items()}
    STATE.targets = {s: r for s, r in rates.items() if r > 0}  # 0 means "not paced"
    if isinstance(runner, MasterRunner):
        clients = [c for c in runner.clients.values()]
        for index, client in enumerate(clients):
            share = {"n": len(clients), "index": index, "start_s": now_s}
            runner.send_message(SHARE_MESSAGE, share, client.id)
        STATE.share_n = max(1, len(clients))
        return
    STATE.pacers = {}
    for stream, rate in STATE.targets.items():
        if rate > 0:
            # Offsetting each process by its index interleaves the processes' sends
            # instead of firing them in bursts of N.
            offset_s = STATE.share_index / rate
            STATE.pacers[stream] = Pacer(rate / STATE.share_n, now_s + offset_s)


@events.test_stop.add_listener
def _on_test_stop(**_kw: Any) -> None:
    STATE.stopped_at_s = time.time()


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if STATE.recorder is not None:
        data["memdiag"] = {"recorder": STATE.recorder.export(), "process": STATE.stats("worker")}


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    payload = data.get("memdiag")
    if payload is None or STATE.recorder is None:
        return
    STATE.recorder.merge(payload["recorder"])
    STATE.workers[client_id] = payload["process"]


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    opts = environment.parsed_options
    path = getattr(opts, "result_file", "")
    if isinstance(runner, WorkerRunner) or not path or STATE.recorder is None:
        return
    role = "master" if isinstance(runner, MasterRunner) else "local"
    processes = [STATE.stats(role), *STATE.workers.values()]
    warned = bool(
        runner.cpu_warning_emitted or getattr(runner, "worker_cpu_warning_emitted", False)
    )
    meta = {
        "scenario": SCENARIO["name"],
        "host": environment.host or "",
        "hostname": socket.gethostname(),
        "users": int(getattr(opts, "num_users", 0) or runner.user_count or 0),
        "workers": STATE.share_n if role == "master" else 1,
        "generator": {"processes": processes, "locust_cpu_warning": warned},
    }
    doc = STATE.recorder.result(
        targets_per_s=STATE.targets, meta=meta, stopped_at_s=STATE.stopped_at_s or time.time()
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    log.info("memdiag result written to %s", target)


@events.request.add_listener
def _on_request(
    name: str, response_time: float, exception: Any, context: dict[str, Any], **_kw: Any
) -> None:
    # Our own requests are recorded by ApiUser.call with their intended send time.
    if STATE.recorder is None or (context or {}).get("memdiag"):
        return
    done_s = time.time()
    failures = () if exception is None else (type(exception).__name__,)
    STATE.recorder.record_request(name, done_s - response_time / 1000.0, done_s, failures)


class ApiUser(FastHttpUser):
    """A client of the reference-server API: paced, recorded, validated requests."""

    abstract = True
    wait_time = constant(0)
    token = ""

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
        **kwargs: Any,
    ) -> Any:
        """One request; returns the parsed JSON (None on an HTTP/transport failure).

        Its latency runs from `intended_s` (default: now) to the end of the body, into
        the HDR recorder; a wrong status or a `check` problem becomes a Locust failure
        named after the rule.
        """
        sent_s = time.time()
        intended_s = sent_s if intended_s is None else intended_s
        hdrs = {**(self.auth() if auth else {}), **(headers or {})}
        doc: Any = None
        failures: list[str] = []
        with self.client.request(
            method,
            path,
            name=name,
            headers=hdrs,
            catch_response=True,
            context={"memdiag": True},
            **kwargs,
        ) as resp:
            done_s = time.time()
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
            }
        }

    def create_task(self, intended_s: float | None = None, token: str | None = None) -> str | None:
        doc = self.call(
            "POST",
            "/api/tasks",
            name="POST /api/tasks",
            intended_s=intended_s,
            json=self.synthetic_body(),
            expect=(202, 201, 200),
            auth=False,
            headers=self.auth(token),
        )
        if isinstance(doc, dict) and isinstance(doc.get("task_id"), str):
            return doc["task_id"]
        return None

    def poll(
        self,
        task_id: str,
        intended_s: float | None = None,
        token: str | None = None,
        name: str = "GET /api/tasks/{id}",
    ) -> Any:
        """One status poll, checked for schema, ownership, progress and transitions."""
        floor = WATCH.floor(task_id)
        full = {"full": True, "summary": False}.get(self.opts.view)

        def check(doc: Any) -> list[Problem]:
            problems = check_status_view(doc, task_id, full=full)
            if isinstance(doc, dict):
                problems += WATCH.observe(task_id, floor, doc)
            return problems

        return self.call(
            "GET",
            f"/api/tasks/{task_id}",
            name=name,
            intended_s=intended_s,
            check=check,
            auth=False,
            headers=self.auth(token),
        )

    def fetch_final(
        self, task_id: str, expected_segments: int | None, token: str | None = None
    ) -> None:
        """What a tab does when the task ends: the final status, then segment pages
        when the status view does not carry them (lean)."""
        doc = self.poll(task_id, token=token, name="GET /api/tasks/{id} final")
        if not isinstance(doc, dict) or doc.get("status") not in TERMINAL:
            return
        problems = check_final(doc, expected_segments)
        if "segments" not in doc and doc.get("status") == "completed":
            got = self.fetch_pages(task_id, token)
            if got is not None and expected_segments is not None and got != expected_segments:
                problems += check_final({**doc, "segment_count": got}, expected_segments)
        for problem in problems:
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
        WATCH.forget(task_id)

    def fetch_pages(self, task_id: str, token: str | None = None) -> int | None:
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
            )
            if not isinstance(page, dict) or not isinstance(page.get("segments"), list):
                return None
            got += len(page["segments"])
            offset += size
            if not page["segments"] or offset >= int(page.get("total", 0)):
                return got


def env_default(name: str) -> str:
    """An option's value from the environment at import time (before Locust parses)."""
    return os.environ.get("MEMDIAG_" + name.upper(), "")
