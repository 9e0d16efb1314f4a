"""The embedded MongoDB-compatible database: FerretDB v1 (SQLite) through our Go launcher.

The launcher (a tiny Go module in `ferretdb_launcher/`) is built with `go build` on first
use into a cache directory keyed by a hash of its source, so an edit rebuilds it and an
unchanged checkout never does. `EmbeddedDB` starts it as a child process, reads the URI
it prints once it accepts connections, and stops it with SIGTERM.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from profiling.errors import DatabaseUnavailable
from profiling.subprocs import first_line, terminate

GO_MISSING = "set MEMDIAG_MONGO_URI to a MongoDB server or install Go 1.22+"
_SOURCE_FILES = ("go.mod", "go.sum", "main.go")
_build_lock = threading.Lock()


def launcher_source_dir() -> Path:
    """The Go module's folder: packaged inside a wheel, or the checkout's top level."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_launcher_src", here.parent / "ferretdb_launcher"):
        if (candidate / "main.go").is_file():
            return candidate
    raise DatabaseUnavailable(f"FerretDB launcher source not found next to {here}")


def cache_dir() -> Path:
    """MEMDIAG_CACHE_DIR, else $XDG_CACHE_HOME/memdiag, else ~/.cache/memdiag."""
    if explicit := os.environ.get("MEMDIAG_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "memdiag"


def source_hash(src: Path) -> str:
    digest = hashlib.sha256()
    for name in _SOURCE_FILES:
        digest.update(name.encode())
        digest.update((src / name).read_bytes())
    return digest.hexdigest()[:16]


def ensure_launcher(*, quiet: bool = False) -> Path:
    """Return the launcher binary, building it first if its source changed."""
    src = launcher_source_dir()
    binary = cache_dir() / f"ferretdb-launcher-{source_hash(src)}"
    with _build_lock:
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
        go = shutil.which("go")
        if go is None:
            raise DatabaseUnavailable(f"Go not found: {GO_MISSING}")
        binary.parent.mkdir(parents=True, exist_ok=True)
        if not quiet:
            print(
                f"Building the FerretDB launcher into {binary} (first use; about a minute)...",
                file=sys.stderr,
                flush=True,
            )
        tmp = binary.with_name(binary.name + f".tmp{os.getpid()}")
        proc = subprocess.run(
            [go, "build", "-trimpath", "-o", str(tmp), "."],
            cwd=src,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            tail = proc.stderr.strip().splitlines()[-5:]
            raise DatabaseUnavailable(
                "go build of the FerretDB launcher failed: " + " | ".join(tail)
            )
        tmp.replace(binary)
        return binary


class EmbeddedDB:
    """A running FerretDB launcher; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        port: int = 0,
        data_dir: Path | None = None,
        log_level: str = "warn",
        start_timeout_s: float = 60.0,
    ) -> None:
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

    def start(self) -> EmbeddedDB:
        binary = ensure_launcher()
        if self._given_data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="memdiag-db-")
            self.data_dir = Path(self._tmp.name)
        assert self.data_dir is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(binary),
                "-listen",
                f"127.0.0.1:{self.port}",
                "-data-dir",
                str(self.data_dir),
                "-log-level",
                self.log_level,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = first_line(self.process, self.start_timeout_s)
        if not line.startswith("mongodb://"):
            err = self._stop_and_collect_stderr()
            raise DatabaseUnavailable(
                f"embedded FerretDB did not start: {err or line or 'no output'}"
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
