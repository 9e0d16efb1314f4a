"""Helpers for the fault tests: a DB that can be SIGKILLed and restarted on its port and
data, pollers that record every answer, and /proc checks for children and zombies.

Everything here drives real processes: the embedded DB, the reference server, the
children it starts. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiling.run.embedded_db import EmbeddedDB

# A request that has not answered by then counts as a hang (the server's own bound is
# --db-timeout-s, a few seconds; this leaves room for a loaded machine).
CLIENT_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RestartableDB:
    """The embedded DB on a fixed port and data dir, so it can die and come back as itself."""

    def __init__(self, data_dir: Path, engine: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.engine = engine
        self.db: EmbeddedDB | None = None
        self.uri = ""

    def start(self) -> RestartableDB:
        kwargs: dict[str, Any] = {"port": self.port, "data_dir": self.data_dir}
        if self.engine is not None:
            kwargs["engine"] = self.engine
        self.db = EmbeddedDB(**kwargs).start()
        self.uri = self.db.uri
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown runs, as when the OOM killer or a crash takes the DB."""
        assert self.db is not None and self.db.process is not None
        self.db.process.send_signal(signal.SIGKILL)
        self.db.process.wait(30)
        self.db.stop()  # closes the pipes; the process is already gone

    def stop(self) -> None:
        if self.db is not None:
            self.db.stop()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int  # 0: no answer within CLIENT_TIMEOUT_S (or the connection failed)
    body: bytes
    retry_after: str | None
    error: str = ""

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    timeout_s: float = CLIENT_TIMEOUT_S,
) -> Reply:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return Reply(resp.status, resp.read(), resp.headers.get("Retry-After"))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read(), exc.headers.get("Retry-After"))
    except (OSError, TimeoutError) as exc:
        return Reply(0, b"", None, error=f"{type(exc).__name__}: {exc}")


class Pollers:
    """Threads that GET each path every `interval_s` (as frontends poll) and keep every reply."""

    def __init__(self, url: str, token: str, paths: list[str], interval_s: float = 0.25) -> None:
        self.url = url
        self.token = token
        self.paths = paths
        self.interval_s = interval_s
        self.replies: list[tuple[str, Reply]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(p,), daemon=True) for p in paths]

    def __enter__(self) -> Pollers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(CLIENT_TIMEOUT_S + 5)

    def _poll(self, path: str) -> None:
        while not self._stop.is_set():
            reply = call(self.url, "GET", path, token=self.token)
            with self._lock:
                self.replies.append((path, reply))
            self._stop.wait(self.interval_s)

    def snapshot(self) -> list[tuple[str, Reply]]:
        with self._lock:
            return list(self.replies)


def bad_replies(replies: list[tuple[str, Reply]]) -> list[str]:
    """Every reply that is neither a 200 nor a proper 503 (JSON reason and Retry-After)."""
    bad = []
    for path, r in replies:
        if r.status == 200:
            continue
        if r.status == 503:
            try:
                body = r.json()
            except ValueError:
                body = None
            if (
                isinstance(body, dict)
                and body.get("error") == "db_unavailable"
                and body.get("detail")
                and r.retry_after
            ):
                continue
        bad.append(f"{path}: {r.status} {r.body[:200]!r} {r.error}")
    return bad


def children_of(pid: int) -> list[int]:
    """Child PIDs of `pid` from /proc (every thread's children file)."""
    out: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        threads = list(task_dir.iterdir())
    except OSError:
        return out
    for t in threads:
        try:
            out += [int(c) for c in (t / "children").read_text().split()]
        except OSError:
            continue
    return out


def proc_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (Z: zombie), or None when the PID is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_until(
    check: Any, what: str, timeout_s: float = 120.0, every_s: float = 0.1, last: Any = None
) -> Any:
    """Call `check` until it returns something truthy; on timeout say what `last()` saw."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    seen = f"; last seen: {last()}" if last is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{seen}")


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    os.kill(pid, sig)
