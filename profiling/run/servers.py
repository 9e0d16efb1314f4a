"""The servers under test, started as subprocesses through their entry points.

`Configuration` is one design to measure: `mode[:switch=value,...][@item+item...]`,
parsed from the `--configs` list, or a user's own server (`command`, see
`profiling.run.server_command`) (the same configuration twice is labelled apart for an
A/A run). The items after `@` are per-configuration runtime options: an allocator
(jemalloc, arenas=N, glibc), `driver=motor|pymongo-async`, `processes=N`.
`ReferenceServer` starts `python -m reference_server` (optionally under `memray run`),
reads the base URL it prints first, keeps its output in a log file, and stops it with
SIGTERM (SIGKILL after a timeout). Nothing here imports the reference server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from profiling.errors import HarnessError, UsageError
from profiling.probes.allocator import TUNING_HELP, parse_choice, parse_tuning
from profiling.run.server_command import ServerCommand
from profiling.run.subprocs import first_line, terminate

MODES = ("db-polling", "memory-first", "lean")
DEFAULT_CONFIGS = "db-polling,memory-first,lean"
DRIVERS = ("motor", "pymongo-async")
RUNTIME_HELP = (
    "after @, items joined by +: jemalloc, arenas=N, glibc, "
    f"{TUNING_HELP}, driver=motor|pymongo-async, processes=N"
)
START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Configuration:
    label: str  # unique in one comparison: "lean", "lean#2"
    mode: str
    overrides: tuple[str, ...] = ()  # "switch=value"
    allocator: str | None = None  # "jemalloc", "arenas=2", "glibc"; None: the run's default
    tuning: tuple[str, ...] = ()  # "mmap_threshold=131072", "pymalloc=off" (allocator knobs)
    driver: str | None = None  # "motor", "pymongo-async"; None: the command's --driver
    processes: int | None = None  # server processes; None: the command's --processes
    # A user's own server started from a command (then `mode` is unused); None: ours
    command: ServerCommand | None = None

    @property
    def runtime(self) -> tuple[str, ...]:
        """The items after `@`, in their canonical order (allocator, tuning, driver,
        processes)."""
        items = [self.allocator] if self.allocator else []
        items += self.tuning
        if self.driver:
            items.append(f"driver={self.driver}")
        if self.processes is not None:
            items.append(f"processes={self.processes}")
        return tuple(items)

    @property
    def spec(self) -> str:
        if self.command is not None:
            return self.command.spec
        text = self.mode + (":" + ",".join(self.overrides) if self.overrides else "")
        return text + ("@" + "+".join(self.runtime) if self.runtime else "")

    def server_args(self) -> list[str]:
        args = ["--mode", self.mode]
        for override in self.overrides:
            args += ["--set", override]
        return args


def parse_configurations(text: str) -> list[Configuration]:
    """'db-polling,lean:status_view=full,json_encoder=json,lean@jemalloc' -> three.

    A comma starts a new configuration unless the next item is a `switch=value`, which
    belongs to the configuration before it. `@item+item...` at the end of a
    configuration sets its runtime options: an allocator (jemalloc, arenas=N, glibc),
    `driver=motor|pymongo-async`, `processes=N`; e.g. `memory-first@processes=2+jemalloc`.
    Labels are written in the canonical order (`memory-first@jemalloc+processes=2`).
    """
    parsed: list[tuple[str, list[str], str]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        item, at, runtime = item.partition("@")
        if at and not runtime.strip():
            raise UsageError(f"--configs: {item}@ has nothing after @; e.g. {item}@jemalloc")
        if "=" in item and ":" not in item.split("=", 1)[0]:
            if not parsed:
                raise UsageError(
                    f"--configs {text!r}: {item!r} has no mode before it; write mode:{item}"
                )
            mode, overrides, previous = parsed[-1]
            parsed[-1] = (mode, [*overrides, item], runtime or previous)
            continue
        mode, _, first = item.partition(":")
        if mode not in MODES:
            raise UsageError(f"--configs: unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if first and "=" not in first:
            raise UsageError(f"--configs: {item!r}: write switches as mode:switch=value")
        parsed.append((mode, [first] if first else [], runtime))
    if not parsed:
        raise UsageError(f"--configs {text!r} names no configuration; e.g. {DEFAULT_CONFIGS}")
    configs: list[Configuration] = []
    seen: dict[str, int] = {}
    for mode, overrides, runtime in parsed:
        config = _with_runtime(Configuration("", mode, tuple(overrides)), runtime)
        seen[config.spec] = seen.get(config.spec, 0) + 1
        n = seen[config.spec]
        configs.append(replace(config, label=config.spec if n == 1 else f"{config.spec}#{n}"))
    return configs


def _with_runtime(config: Configuration, runtime: str) -> Configuration:
    """`config` with the runtime items of `@runtime`; a bad item fails here, before
    anything starts, with the fix in one line."""
    for raw in runtime.split("+") if runtime else ():
        item = raw.strip()
        name, sep, value = item.partition("=")
        where = f"--configs: {config.mode}@{runtime}"
        if sep and name == "driver":
            if value not in DRIVERS:
                raise UsageError(
                    f"{where}: driver={value!r}: use driver=motor or driver=pymongo-async"
                )
            if config.driver is not None:
                raise UsageError(f"{where}: two drivers; give one driver=...")
            config = replace(config, driver=value)
        elif sep and name == "processes":
            if not value.isdigit() or int(value) < 1:
                raise UsageError(f"{where}: processes={value!r}: use processes=N with N >= 1")
            if config.processes is not None:
                raise UsageError(f"{where}: two process counts; give one processes=N")
            config = replace(config, processes=int(value))
        elif sep and name.lower() in ("mmap_threshold", "trim_threshold", "pymalloc"):
            try:
                parse_tuning(item)
            except ValueError as exc:
                raise UsageError(f"{where}: {exc}") from None
            if any(t.partition("=")[0] == name.lower() for t in config.tuning):
                raise UsageError(f"{where}: {name} given twice")
            config = replace(config, tuning=tuple(sorted((*config.tuning, item.lower()))))
        else:
            try:
                parse_choice(item)
            except ValueError as exc:
                raise UsageError(
                    f"{where}: {exc}, {TUNING_HELP}, driver=... or processes=N"
                ) from None
            if config.allocator is not None:
                raise UsageError(f"{where}: two allocators; give one of jemalloc, arenas=N, glibc")
            config = replace(config, allocator=item)
    return config


def check_configurations(configs: Sequence[Configuration], extra: Sequence[str] = ()) -> None:
    """UsageError unless the reference server accepts every configuration's switches and
    `extra` arguments: `python -m reference_server --check` validates them and starts
    nothing, so a typo fails before any DB or server does (and the switch table stays
    the server's own: nothing here imports it)."""
    seen: set[tuple[str, ...]] = set()
    for config in configs:
        if config.command is not None:
            continue  # a user's own server: nothing to check before it starts
        argv = (*config.server_args(), *extra)
        if argv in seen:
            continue
        seen.add(argv)
        proc = subprocess.run(
            [sys.executable, "-m", "reference_server", "--check", *argv],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
            why = lines[-1].removeprefix("reference_server: ")
            # argparse's own message reads "python -m reference_server: error: ..."
            why = why.split(": error: ", 1)[-1]
            raise UsageError(f"configuration {config.spec!r}: {why}")


class ReferenceServer:
    """`python -m reference_server ...` as a child process; a context manager."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.start_timeout_s = start_timeout_s
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._stdout_copier: threading.Thread | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise HarnessError("the server is not running")
        return self.process.pid

    def start(self) -> ReferenceServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        line = first_line(self.process, self.start_timeout_s)
        if not line.startswith("http"):
            exited = self.process.poll()
            self.stop()
            tail = _tail(self.log_path)
            why = (
                f"exited with {exited} before printing its URL"
                if exited is not None
                else f"did not print its URL within {self.start_timeout_s:.0f}s"
            )
            raise HarnessError(f"the server {why}; {tail}")
        self.url = line.strip()
        self._stdout_copier = threading.Thread(target=self._copy_stdout, daemon=True)
        self._stdout_copier.start()
        wait_healthy(self.url, self.start_timeout_s, self.process)
        return self

    def _copy_stdout(self) -> None:
        proc, log = self.process, self._log
        if proc is None or proc.stdout is None or log is None:
            return
        for line in proc.stdout:
            try:
                log.write(line)
            except ValueError:  # the log was closed at stop
                return

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM (a clean stop lets memray finish its capture), SIGKILL after the timeout."""
        proc = self.process
        if proc is None:
            return None
        code = terminate(proc, timeout_s)
        # The server is gone, so its stdout is at its end: let the copier finish, then
        # close the pipe (left to the garbage collector it is an unclosed-file warning).
        copier = self._stdout_copier
        if copier is not None and proc.stdout is not None:
            copier.join(timeout=2.0)
            if not copier.is_alive():
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
        return code

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_healthy(
    url: str,
    timeout_s: float,
    proc: subprocess.Popen[str] | None = None,
    path: str = "/healthz",
) -> None:
    """Poll GET `path` until 200 (any server: a 404 means it has none, which is fine)."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise HarnessError(f"the server exited with {proc.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url.rstrip("/") + path, timeout=5) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise HarnessError(f"the server at {url} never became healthy within {timeout_s:.0f}s ({last})")


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return f"no log at {path}"
    return f"last lines of {path}: " + " | ".join(text[-lines:]) if text else f"{path} is empty"


def free_port() -> int:
    """A TCP port nobody listens on right now (for servers that cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reference_server_args(
    config: Configuration,
    *,
    mongo_uri: str,
    database: str,
    extra: Sequence[str] = (),
    processes: int = 1,
) -> list[str]:
    """Arguments after `python -m reference_server` for one measured run."""
    # Several processes share one port (SO_REUSEPORT), so they need it named up front.
    port = free_port() if processes > 1 else 0
    args = [*config.server_args(), "--port", str(port), "--mongo-uri", mongo_uri]
    return [*args, "--database", database, *extra]
