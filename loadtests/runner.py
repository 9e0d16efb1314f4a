"""Run a Locust scenario as a subprocess and return its typed result.

This is the Python entry point for the experiment runner (`memdiag measure`): it never
imports locust (which gevent-patches the process it is imported in); it starts
`python -m locust` headless with a hard timeout and parses the JSON the scenario
writes at the end.

API
---
    from loadtests.runner import LoadSpec, run_load

    spec = LoadSpec(host="http://127.0.0.1:8080/", scenario="polling_storm", users=30,
                    rate_per_s=50, duration_s=60, warmup_s=10)
    result = run_load(spec, out_dir=Path("reports/run-1/load"))
    result.steady.endpoints["GET /api/tasks/{id}"].p99_ms   # warm-up excluded
    result.steady.streams["poll"].achieved_per_s
    result.problems()        # [] when valid: rate within 5 %, generator not saturated
    result.exit_code         # Locust's (1 when any request failed)

    load = start_load(spec, out_dir)   # the same, without blocking: a `Load`
    load.pid                 # Locust's, the leader of its own process group
    load.running()           # False once it has ended (and been reaped)
    load.wait(timeout_s=5)   # its LoadResult; subprocess.TimeoutExpired if still running
    load.stop()              # SIGTERM to its group, SIGKILL after a grace

`LoadSpec` fields:
- `scenario`: one of `SCENARIOS`, or `locustfile`: a path to the user's own locustfile
  (exactly one of the two). A user's locustfile runs with `scenarios/_memdiag.py` loaded
  beside it, which records every Locust request into the same HDR result (timed from the
  actual send, since such a file does not pace from intended times);
- `users`, `rate_per_s` (the scenario's main stream: polls/s for frontend_tabs,
  polling_storm and soak, lists/s for dashboard, uploads/s for uploads; passed to a
  user's locustfile as env `MEMDIAG_RATE`), `duration_s` (the measured steady phase),
  `warmup_s` (run before it and excluded from `result.steady`), `spawn_rate` (default:
  all users at once), `processes` (> 1: Locust's `--processes`, histograms merged);
- `options`: scenario options by field name (`{"segments": 3000, "view": "full"}` ->
  `--segments 3000 --view full`); `extra_args`: raw Locust arguments; `env`: extra
  environment; `timeout_s`: hard limit (default warm-up + duration + 60 s);
- `control_dir`: hand the phases to the caller (the experiment runner). The scenario
  writes `ready.json` there once every polled task shows its target size, and starts
  the steady phase and stops when the caller writes `steady.json`
  ({"steady_start_s", "stop_at_s"}, epoch seconds); `-t` becomes a hard limit that
  allows `ready_timeout_s` more for the warm-up.

With `processes` > 1 the master listens on a free loopback port, so parallel runs on
one machine never exchange workers.

Files written to `out_dir`: `load.json` (the result), `locust.log` (Locust's output),
`locust_stats.csv` and friends (Locust's own CSVs).

Errors carry `exit_code`: `LoadSpecError` (2, bad input), `LoadRunError` (3, Locust
crashed, timed out or wrote no result; the message names the log).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.names import SCENARIO_NAMES
from loadtests.procgroup import end_group
from loadtests.results import LoadResult, ResultFormatError, load_result

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SCENARIOS = tuple(n.module_name for n in SCENARIO_NAMES)
RATE_OPTION = {
    "task_churn": "poll_rate",
    "frontend_tabs": "poll_rate",
    "polling_storm": "poll_rate",
    "soak": "poll_rate",
    "dashboard": "list_rate",
    "uploads": "upload_rate",
    "url_poll": "request_rate",  # not poll_rate: no task work to count polls served by
}
RESULT_NAME = "load.json"
LOG_NAME = "locust.log"
_TIMEOUT_GRACE_S = 60.0
STOP_GRACE_S = 10.0  # from SIGTERM to SIGKILL when a load is stopped


class LoadSpecError(ValueError):
    exit_code = 2


class LoadRunError(RuntimeError):
    exit_code = 3


@dataclass(frozen=True, slots=True)
class LoadSpec:
    host: str
    scenario: str | None = "frontend_tabs"
    locustfile: Path | None = None
    users: int = 10
    rate_per_s: float | None = None
    duration_s: float = 30.0
    warmup_s: float = 0.0
    spawn_rate: float | None = None
    processes: int = 1
    options: Mapping[str, str | int | float] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    control_dir: Path | None = None
    ready_timeout_s: float = 0.0

    def check(self) -> None:
        """Raise LoadSpecError naming the bad value and the fix."""
        if (self.scenario is None) == (self.locustfile is None):
            raise LoadSpecError("give exactly one of scenario=NAME or locustfile=PATH")
        if self.scenario is not None and self.scenario not in SCENARIOS:
            raise LoadSpecError(
                f"unknown scenario {self.scenario!r}: use one of {', '.join(SCENARIOS)}"
            )
        if self.locustfile is not None and not Path(self.locustfile).is_file():
            raise LoadSpecError(f"No such locustfile: {self.locustfile}")
        if self.users < 1:
            raise LoadSpecError(f"users={self.users}: need at least 1 user")
        if self.rate_per_s is not None and self.rate_per_s <= 0:
            raise LoadSpecError(f"rate={self.rate_per_s}: the arrival rate must be > 0 per second")
        if self.duration_s <= 0 or self.warmup_s < 0:
            raise LoadSpecError(
                f"duration={self.duration_s}s, warmup={self.warmup_s}s: duration must be > 0"
                " and warm-up >= 0"
            )
        if self.processes < 1:
            raise LoadSpecError(f"processes={self.processes}: need at least 1")
        if self.scenario == "uploads":
            folder = Path(str(self.options.get("audio_dir", "")))
            if not self.options.get("audio_dir") or not folder.is_dir():
                raise LoadSpecError(
                    f"uploads needs options={{'audio_dir': FOLDER}} with audio files;"
                    f" got {str(folder)!r}"
                )
        if not self.host.startswith(("http://", "https://")):
            raise LoadSpecError(f"host {self.host!r} is not a URL: use e.g. http://127.0.0.1:8080")

    @property
    def run_time_s(self) -> float:
        """Locust's -t: the whole run, or with a control dir the longest it may take."""
        extra_s = self.ready_timeout_s + 30.0 if self.control_dir is not None else 0.0
        return self.warmup_s + self.duration_s + extra_s


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def locust_command(spec: LoadSpec, out_dir: Path) -> list[str]:
    """The exact `python -m locust ...` command line (also handy to print for users)."""
    spec.check()
    if spec.scenario is not None:
        files = str(SCENARIO_DIR / f"{spec.scenario}.py")
    else:
        files = f"{Path(spec.locustfile or '').resolve()},{SCENARIO_DIR / '_memdiag.py'}"
    spawn_rate = spec.spawn_rate or spec.users
    cmd = [
        sys.executable, "-m", "locust", "-f", files, "--headless",
        "--host", spec.host,
        "-u", str(spec.users), "-r", str(spawn_rate),
        "-t", f"{max(1, round(spec.run_time_s))}s",
        "--csv", str(out_dir / "locust"), "--only-summary",
        "--result-file", str(out_dir / RESULT_NAME),
        "--warmup-s", str(spec.warmup_s),
    ]  # fmt: skip
    if spec.control_dir is not None:
        cmd += ["--control-dir", str(spec.control_dir)]
    if spec.processes > 1:
        # Locust's master listens on port 5557 by default: two runs at once on one
        # machine would trade workers. A free loopback port per run keeps them apart.
        port = str(_free_port())
        cmd += ["--processes", str(spec.processes), "--master-bind-host", "127.0.0.1",
                "--master-host", "127.0.0.1", "--master-bind-port", port,
                "--master-port", port]  # fmt: skip
    options = dict(spec.options)
    if spec.scenario is not None and spec.rate_per_s is not None:
        options.setdefault(RATE_OPTION[spec.scenario], spec.rate_per_s)
    for name, value in sorted(options.items()):
        cmd += [_flag(name), str(value)]
    return cmd + list(spec.extra_args)


def run_load(spec: LoadSpec, out_dir: Path) -> LoadResult:
    """Run the load to completion (or the hard timeout) and return its parsed result."""
    return start_load(spec, out_dir).wait()


def start_load(spec: LoadSpec, out_dir: Path) -> Load:
    """Start Locust for `spec` writing into `out_dir`; returns at once with its `Load`."""
    cmd = locust_command(spec, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = out_dir / RESULT_NAME
    result_path.unlink(missing_ok=True)
    env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
    if spec.locustfile is not None and spec.rate_per_s is not None:
        env["MEMDIAG_RATE"] = str(spec.rate_per_s)
    timeout_s = spec.timeout_s or spec.run_time_s + _TIMEOUT_GRACE_S
    log_path = out_dir / LOG_NAME
    with log_path.open("wb") as log:  # Locust holds its own copy of the descriptor
        # A session of its own, so that stopping it ends Locust's forked workers too.
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip
    try:
        return Load(proc, result_path, log_path, timeout_s)
    except BaseException:
        end_group(proc, STOP_GRACE_S)
        raise


class Load:
    """Locust running as a subprocess, the leader of a process group of its own.

    A watcher thread waits for it (so it is reaped as soon as it ends) and ends its group
    if it runs past the hard timeout `timeout_s`; then `wait()` raises LoadRunError.
    """

    def __init__(
        self, proc: subprocess.Popen[bytes], result_path: Path, log_path: Path, timeout_s: float
    ) -> None:
        self._proc = proc
        self.result_path = result_path
        self.log_path = log_path
        self.timeout_s = timeout_s
        self._timed_out = False
        self._watcher = threading.Thread(target=self._watch, name="memdiag-load", daemon=True)
        self._watcher.start()

    @property
    def pid(self) -> int:
        """Locust's process id, which is also its process group's id."""
        return self._proc.pid

    def running(self) -> bool:
        """Whether Locust has not ended yet (False once it has exited and been reaped)."""
        return self._watcher.is_alive()

    def wait(self, timeout_s: float | None = None) -> LoadResult:
        """Its parsed result once Locust has ended. Raises subprocess.TimeoutExpired when
        it still runs after `timeout_s`, LoadRunError when it ran past the hard timeout
        or wrote no result."""
        self._watcher.join(timeout_s)
        if self._watcher.is_alive():
            raise subprocess.TimeoutExpired(self._proc.args, timeout_s or 0.0)
        if self._timed_out:
            raise LoadRunError(
                f"Locust ran past its {self.timeout_s:.0f}s hard timeout and was stopped;"
                f" see {self.log_path}"
            )
        exit_code = self._proc.returncode
        try:
            return load_result(self.result_path, exit_code=exit_code)
        except ResultFormatError as exc:
            raise LoadRunError(f"{exc} Locust exited {exit_code}; {_tail(self.log_path)}") from None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """End Locust's whole group: SIGTERM, then SIGKILL if it has not ended within
        `grace_s`. Locust handles SIGTERM by writing its result and exiting."""
        end_group(self._proc, grace_s)
        self._watcher.join(grace_s)

    def _watch(self) -> None:
        try:
            self._proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            end_group(self._proc, STOP_GRACE_S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return f"no log at {path}"
    return f"last lines of {path}: " + " | ".join(text[-lines:])
