"""The embedded MongoDB-compatible database memdiag starts when no MongoDB URI is given.

Two engines, each through a small launcher of ours (built on first use, see
`profiling.run.launchers`): `mongo-java` (the default: mongo-java-server 1.47, memory backend,
or H2 with a data directory) and `ferretdb` (FerretDB v1, SQLite). MEMDIAG_DB_ENGINE picks
one when the caller does not. `EmbeddedDB` starts the launcher as a child process, reads the
URI it prints once it accepts connections, and stops it with SIGTERM; both launchers also
exit when their parent dies, so a crashed memdiag leaves no database behind.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from profiling.errors import DatabaseUnavailable, UsageError
from profiling.run.launchers import (
    ENGINES,
    FERRETDB,
    MONGO_JAVA,
    cache_dir,
    launcher_command,
    launcher_source_dir,
    mongo_java_server_version,
)
from profiling.run.subprocs import first_line, terminate

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "EmbeddedDB",
    "cache_dir",
    "launcher_source_dir",
    "resolve_engine",
]
DEFAULT_ENGINE = MONGO_JAVA


def resolve_engine(engine: str | None = None, *, option: str = "--db-engine") -> str:
    """`engine`, else MEMDIAG_DB_ENGINE, else the default; a bad name is a usage error."""
    origin = option
    if not engine:
        engine, origin = os.environ.get("MEMDIAG_DB_ENGINE") or DEFAULT_ENGINE, "MEMDIAG_DB_ENGINE"
    if engine not in ENGINES:
        raise UsageError(f"{origin} {engine!r} is not a DB engine; use one of {', '.join(ENGINES)}")
    return engine


class EmbeddedDB:
    """A running embedded DB; use as a context manager or call start()/stop().

    Without `data_dir` the database is fresh and empty: mongo-java keeps it in memory,
    FerretDB in a temporary directory removed at stop. With `data_dir` it persists there
    (mongo-java: an H2 file; FerretDB: SQLite files).
    """

    def __init__(
        self,
        *,
        engine: str | None = None,
        port: int = 0,
        data_dir: Path | None = None,
        log_level: str = "warn",
        start_timeout_s: float = 60.0,
    ) -> None:
        self.engine = resolve_engine(engine)
        self.port = port
        self._given_data_dir = data_dir
        self.data_dir: Path | None = data_dir
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.uri = ""
        self.process: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise DatabaseUnavailable("embedded DB is not running")
        return self.process.pid

    @property
    def description(self) -> str:
        """The engine and its storage, for a run's environment record."""
        if self.engine == FERRETDB:
            return "FerretDB (embedded, SQLite)"
        backend = "memory backend" if self._given_data_dir is None else "H2 backend"
        version = mongo_java_server_version()
        return f"mongo-java-server {version} (embedded, {backend})".replace("  ", " ")

    def start(self) -> EmbeddedDB:
        command = launcher_command(self.engine)
        if self._given_data_dir is None and self.engine == FERRETDB:
            # FerretDB always needs a directory; a temporary one makes a fresh database.
            self._tmp = tempfile.TemporaryDirectory(prefix="memdiag-db-")
            self.data_dir = Path(self._tmp.name)
        command += ["-listen", f"127.0.0.1:{self.port}", "-log-level", self.log_level]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            command += ["-data-dir", str(self.data_dir)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = first_line(self.process, self.start_timeout_s)
        if not line.startswith("mongodb://"):
            err = self._stop_and_collect_stderr()
            raise DatabaseUnavailable(
                f"embedded {self.engine} DB did not start: {err or line or 'no output'}"
            )
        self.uri = line.strip()
        self.port = int(self.uri.rsplit(":", 1)[1].strip("/"))
        # Keep draining stderr so a chatty DB never blocks on a full pipe.
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        return self

    def _drain_stderr(self) -> None:
        proc = self.process
        if proc is not None and proc.stderr is not None:
            for _ in proc.stderr:
                pass

    def _stop_and_collect_stderr(self) -> str:
        proc = self.process
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.kill()
        try:
            _, err = proc.communicate(timeout=10)
        except (subprocess.TimeoutExpired, ValueError):
            err = ""
        self._cleanup_tmp()
        return " | ".join((err or "").strip().splitlines()[-3:])

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after the timeout; returns the exit code."""
        proc = self.process
        code = None
        if proc is not None:
            code = terminate(proc, timeout_s)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._cleanup_tmp()
        return code

    def _cleanup_tmp(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedDB:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
