"""Shared fixtures: the real embedded MongoDB-compatible DB and the real reference server.

A test that needs the DB never skips: if the DB cannot start, the fixture fails and
says why. MEMDIAG_DB_ENGINE (mongo-java, the default, or ferretdb) picks the embedded DB;
MEMDIAG_MONGO_URI points the whole suite at another MongoDB server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from profiling.errors import MemdiagError
from profiling.run.embedded_db import EmbeddedDB
from profiling.run.subprocs import first_line, wait_or_kill

# pytester runs pytest sessions of its own: the memdiag pytest plugin's tests need it.
pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/unit/golden/* from the current output instead of comparing",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The lanes' serial pass (`-m "serial ..."`, tox.ini) selects nothing when {posargs}
    narrow the run to tests that are not serial: that is no error."""
    markexpr = str(session.config.getoption("markexpr") or "")
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and markexpr.startswith("serial"):
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    if uri := os.environ.get("MEMDIAG_MONGO_URI"):
        yield uri
        return
    try:
        db = EmbeddedDB()  # the engine from MEMDIAG_DB_ENGINE, else the default
        db.start()
    except MemdiagError as exc:
        pytest.fail(f"embedded DB could not start: {exc}", pytrace=False)
    try:
        yield db.uri
    finally:
        db.stop()


@pytest.fixture
def database_name() -> str:
    """A fresh database per test, so tests never see each other's tasks."""
    return "t_" + uuid.uuid4().hex[:12]


# -- the reference server as a real process ---------------------------------------------


class HttpResult:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.body)


class ServerProcess:
    """`python -m reference_server` on a free port; the first stdout line is its URL."""

    def __init__(self, mongo_uri: str, database: str, *args: str) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "reference_server",
            "--port",
            "0",
            "--mongo-uri",
            mongo_uri,
            "--database",
            database,
            *args,
        ]
        self.database = database
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = first_line(self.proc, 60)
        if not line.startswith("http://"):
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            pytest.fail(f"reference server did not start: {' '.join(self.argv)}\n{err[-2000:]}")
        self.url = line.strip()
        self._stopping = False
        self._stderr: list[str] = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for text in self.proc.stderr:
            self._stderr.append(text)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResult:
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method)
        for k, v in hdrs.items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return HttpResult(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            return HttpResult(exc.code, exc.read(), dict(exc.headers))

    def new_user(self, name: str = "tester") -> str:
        res = self.request("POST", "/api/users", {"name": name})
        assert res.status == 201, res.body
        return str(res.json()["token"])

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels`."""
        text = self.request("GET", "/metrics").body.decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric_name, _, label_text = head.partition("{")
            if metric_name != name:
                continue
            if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += float(value)
        return total

    def begin_stop(self) -> None:
        """SIGTERM without waiting, so that many servers shut down at once; `stop` then
        waits. Sent once: a second SIGTERM after the server's loop is gone would kill it."""
        if self.proc.poll() is None and not self._stopping:
            self._stopping = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.begin_stop()
        code = wait_or_kill(self.proc, 20)
        self._drainer.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code

    def stderr_text(self) -> str:
        return "".join(self._stderr)


@pytest.fixture
def start_server(mongo_uri: str, database_name: str) -> Iterator[Callable[..., ServerProcess]]:
    """Start reference servers (fresh database unless `database=` is given, the session's
    DB unless `uri=` is given); all stop after."""
    started: list[ServerProcess] = []

    def start(*args: str, database: str | None = None, uri: str | None = None) -> ServerProcess:
        server = ServerProcess(uri or mongo_uri, database or database_name, *args)
        started.append(server)
        return server

    yield start
    for server in started:  # all shut down at once: a test may start six
        server.begin_stop()
    for server in started:
        server.stop()


def _wait_for(check: Callable[[], Any], what: str, timeout_s: float = 180.0) -> Any:
    """Poll `check` every 0.2 s until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    return _wait_for


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    path = tmp_path / "uploads"
    path.mkdir()
    return path
