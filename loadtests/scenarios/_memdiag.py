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
  merges it in `worker_report`; when the master starts stopping it asks every worker for
  its final counts and waits for them (Locust itself waits only 0.5 s for the last
  report on quit), and the master (or the local runner) writes the JSON on `quitting`;
- the `STATE` of this process that `_apiuser.ApiUser` (the abstract base user of the
  scenarios) paces and records through, and the `WORK` it reports the polled tasks to;
- with `--control-dir` (the experiment runner's), a control loop on the master (or the
  local runner): it writes `ready.json` once every polled task has shown its target size
  (`--initial-segments`; at once for a scenario that pre-grows nothing), reads
  `steady.json` ({steady_start_s, stop_at_s}) to start the steady phase and stop the test
  when the runner says, and tells the workers. `-t` is then only a hard limit.

Requests made outside `ApiUser.call` (a user's own locustfile loaded together with this
file) are recorded from Locust's `request` event, timed from the actual send.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import events
from locust.runners import MasterRunner, WorkerRunner

try:  # the repo root is not on sys.path when locust runs a file from a checkout
    from loadtests.pacing import Pacer
except ImportError:  # pragma: no cover - depends on how memdiag was installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from loadtests.pacing import Pacer
from loadtests.options import OPTIONS
from loadtests.recorder import Recorder
from loadtests.validate import TaskWatch
from loadtests.work import WorkTracker, merge_exports

log = logging.getLogger("memdiag.load")
SHARE_MESSAGE = "memdiag_share"  # master -> worker: your share of the schedule
FLUSH_MESSAGE = "memdiag_flush"  # master -> worker: stopping, send everything now
FINAL_MESSAGE = "memdiag_final"  # worker -> master: the last counts, with the stop time
STEADY_MESSAGE = "memdiag_steady"  # master -> worker: the steady phase starts at this time
FLUSH_TIMEOUT_S = 15.0
CONTROL_INTERVAL_S = 0.05
READY_FILE, STEADY_FILE = "ready.json", "steady.json"

_wanted: dict[str, Any] = {}  # option name -> default for this locustfile
_streams: dict[str, str] = {}  # paced stream -> its rate option
SCENARIO = {"name": "custom"}
TASKS_END_IN_RUN = [False]  # set by want(), like SCENARIO


def want(
    scenario: str,
    *names: str,
    streams: dict[str, str] | None = None,
    tasks_end_in_run: bool = False,
    **defaults: Any,
) -> None:
    """Called by a scenario module at import: its options, paced streams, own defaults,
    and whether its tasks live their whole life in the run (loadtests.work)."""
    SCENARIO["name"] = scenario  # the last call wins: soak imports the others first
    TASKS_END_IN_RUN[0] = tasks_end_in_run
    for name in ("result_file", "warmup_s", "late_threshold_ms", "control_dir", *names):
        _wanted.setdefault(name, OPTIONS[name][1])
    _wanted.update(defaults)
    _streams.update(streams or {})


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    # parser.add_argument, not an argument group's: only the former puts the option in
    # the web UI (LocustArgumentParser tracks it there).
    for name in sorted(
        set(_wanted) | {"result_file", "warmup_s", "late_threshold_ms", "control_dir"}
    ):
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
        # The tab model (_apiuser.TabUser): tabs of this process so far, and the start
        # every tab's schedule is offset from (the master's start in a worker).
        self.tabs_started = 0
        self.tab_start_s = time.time()
        self.stopped_at_s: float | None = None
        self.workers: dict[str, dict[str, Any]] = {}  # client id -> its latest process stats
        self.shares: dict[str, list[Any]] = {}  # client id -> [index, n, stopped at or None]
        self.work_parts: dict[str, dict[str, Any]] = {}  # client id -> its latest WORK export
        self.awaiting: set[str] = set()  # workers whose final report has not come yet
        self.reported: set[str] = set()  # workers whose final report came
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
WORK = WorkTracker()


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

        def on_flush(environment: Any, msg: Any, **_kw: Any) -> None:
            # The master is stopping: hand over everything now, while it still listens,
            # instead of in the last report on quit, which it waits only 0.5 s for.
            STATE.stopped_at_s = time.time()
            if STATE.recorder is not None:
                STATE.recorder.stopped_at_s = STATE.stopped_at_s
                runner.send_message(FINAL_MESSAGE, _payload())
            STATE.recorder = None  # sends until the quit arrives are not counted

        def on_steady(environment: Any, msg: Any, **_kw: Any) -> None:
            _start_steady(float(msg.data["steady_start_s"]))

        runner.register_message(SHARE_MESSAGE, on_share)
        runner.register_message(FLUSH_MESSAGE, on_flush)
        runner.register_message(STEADY_MESSAGE, on_steady)
    elif isinstance(runner, MasterRunner):

        def on_final(environment: Any, msg: Any, **_kw: Any) -> None:
            _merge(msg.node_id, msg.data)
            STATE.awaiting.discard(msg.node_id)
            STATE.reported.add(msg.node_id)

        runner.register_message(FINAL_MESSAGE, on_final)


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
    if getattr(opts, "control_dir", ""):
        # The runner starts the steady phase (steady.json); until then nothing is steady.
        STATE.recorder.steady_start_s = math.inf
    STATE.stopped_at_s = None
    STATE.tabs_started, STATE.tab_start_s = 0, now_s
    STATE.workers.clear()
    STATE.shares.clear()
    STATE.work_parts.clear()
    STATE.reported.clear()
    # A scenario that pre-grows nothing (or a user's locustfile) is ready at once.
    # Tasks are pre-grown to initial_segments, or to all their segments when fewer.
    initial = int(getattr(opts, "initial_segments", 0) or 0)
    target = min(initial, int(getattr(opts, "segments", initial) or initial))
    WORK.reset(target, tasks_end_in_run=TASKS_END_IN_RUN[0])
    if "initial_segments" not in _wanted:
        WORK.ready_at_s = now_s
    if not isinstance(runner, WorkerRunner) and getattr(opts, "control_dir", ""):
        gevent.spawn(_control_loop, environment, Path(opts.control_dir))
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


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_kw: Any) -> None:
    if STATE.stopped_at_s is None:
        STATE.stopped_at_s = time.time()
    if STATE.recorder is not None:
        # Users still finish a slot or two while Locust stops them; those slots were
        # meant for after the stop and count in no phase (nor among the due slots).
        STATE.recorder.stopped_at_s = STATE.stopped_at_s
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    STATE.awaiting = {client.id for client in runner.clients.values()}
    for client_id in STATE.awaiting:
        runner.send_message(FLUSH_MESSAGE, None, client_id)
    deadline_s = time.time() + FLUSH_TIMEOUT_S
    while STATE.awaiting and time.time() < deadline_s:
        gevent.sleep(0.05)  # the master's listener greenlet merges the replies
    if STATE.awaiting:
        log.error("no final memdiag report from %d worker(s)", len(STATE.awaiting))


@events.test_stop.add_listener
def _on_test_stop(**_kw: Any) -> None:
    if STATE.stopped_at_s is None:
        STATE.stopped_at_s = time.time()


def _start_steady(steady_start_s: float) -> None:
    WORK.steady_start_s = steady_start_s
    if STATE.recorder is not None:
        STATE.recorder.steady_start_s = steady_start_s


def _work_export(runner: Any) -> dict[str, Any] | None:
    if isinstance(runner, MasterRunner):
        return merge_exports(list(STATE.work_parts.values()))
    return WORK.export()


def _control_loop(environment: Any, control: Path) -> None:
    """Ready out, steady phase and stop in: the experiment runner's side of the warm-up."""
    runner = environment.runner
    ready_written, stop_at_s = False, None
    while True:
        gevent.sleep(CONTROL_INTERVAL_S)
        if not ready_written:
            work = _work_export(runner)
            ready_at = (work or {}).get("ready_at_s")
            if ready_at is not None:
                _write_json(control / READY_FILE, {"ready_at_s": ready_at})
                ready_written = True
        if stop_at_s is None and (control / STEADY_FILE).is_file():
            try:
                steady = json.loads((control / STEADY_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # half-written: read it again next turn
            _start_steady(float(steady["steady_start_s"]))
            stop_at_s = float(steady["stop_at_s"])
            if isinstance(runner, MasterRunner):
                runner.send_message(STEADY_MESSAGE, {"steady_start_s": WORK.steady_start_s})
        if stop_at_s is not None and time.time() >= stop_at_s:
            runner.quit()  # what -t's timer does: test_stopping, then quitting
            return


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _payload() -> dict[str, Any]:
    assert STATE.recorder is not None
    process = STATE.stats("worker")
    return {
        "recorder": STATE.recorder.export(),
        "process": process,
        "share": [STATE.share_index, STATE.share_n, STATE.stopped_at_s],
        "work": WORK.export(),
    }


def _merge(client_id: str, payload: dict[str, Any]) -> None:
    if STATE.recorder is None:
        return
    STATE.recorder.merge(payload["recorder"])
    STATE.workers[client_id] = payload["process"]
    STATE.shares[client_id] = payload["share"]
    STATE.work_parts[client_id] = payload["work"]


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if STATE.recorder is not None:
        data["memdiag"] = _payload()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if (payload := data.get("memdiag")) is not None:
        _merge(client_id, payload)


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
        "workers_reported": len(STATE.reported) if role == "master" else 1,
        # Locust warns when a generator process runs above 90 % CPU: its timings are
        # then suspect, and the run is reported as saturated.
        "generator": {"processes": processes, "locust_cpu_warning": warned, "saturated": warned},
    }
    stopped_at_s = STATE.stopped_at_s or time.time()
    # A worker stops a moment after the master; its slots count up to its own stop.
    shares = [(int(i), int(n), float(end or stopped_at_s)) for i, n, end in STATE.shares.values()]
    doc = STATE.recorder.result(
        targets_per_s=STATE.targets, meta=meta, stopped_at_s=stopped_at_s, shares=shares
    )
    if (work := _work_export(runner)) is not None:
        doc["work"] = work
    _write_json(Path(path), doc)
    log.info("memdiag result written to %s", path)


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


def env_default(name: str) -> str:
    """An option's value from the environment at import time (before Locust parses)."""
    return os.environ.get("MEMDIAG_" + name.upper(), "")
