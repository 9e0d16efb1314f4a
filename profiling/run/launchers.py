"""Building the embedded DB launchers on first use: mongo-java-server (Maven) and FerretDB (Go).

Each launcher is a small program of ours whose source ships with memdiag (in the checkout's
`mongo_java_launcher/` and `ferretdb_launcher/`, or packaged inside the wheel). It is built
on first use into `~/.cache/memdiag/<engine>-launcher-<source hash>`, so an edit rebuilds it
and an unchanged checkout never does. Several processes may start a DB at once (tox,
parallel test sessions), so a build holds a file lock and the result appears atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from profiling.errors import DatabaseUnavailable

MONGO_JAVA = "mongo-java"
FERRETDB = "ferretdb"
ENGINES = (MONGO_JAVA, FERRETDB)

_ALTERNATIVES = {
    MONGO_JAVA: "set MEMDIAG_DB_ENGINE=ferretdb (needs Go 1.22+) or MEMDIAG_MONGO_URI to a "
    "MongoDB server, or install Java 17+ and Maven (bash .ci/setup)",
    FERRETDB: "set MEMDIAG_DB_ENGINE=mongo-java (needs Java 17+ and Maven) or MEMDIAG_MONGO_URI "
    "to a MongoDB server, or install Go 1.22+",
}
# Where each launcher's source lives: the wheel's copy first, then the checkout's.
_SOURCE_DIRS = {
    MONGO_JAVA: ("_mongo_java_launcher_src", "mongo_java_launcher", "pom.xml"),
    FERRETDB: ("_launcher_src", "ferretdb_launcher", "main.go"),
}
# The JVM flags, chosen by the calibration table in docs/database.md: a fixed heap ceiling, so
# the DB's footprint does not depend on the machine's RAM (the default is a quarter of it),
# the serial collector (no concurrent GC threads competing for 2 shared cores, and the
# smallest footprint), and a crash rather than a thrashing JVM when the heap is exhausted.
DEFAULT_JVM_FLAGS = ("-Xms64m", "-Xmx1g", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError")
_thread_lock = threading.Lock()


def launcher_source_dir(engine: str = FERRETDB) -> Path:
    """The launcher's source folder: packaged inside a wheel, or the checkout's top level."""
    packaged, checkout, marker = _SOURCE_DIRS[engine]
    here = Path(__file__).resolve().parents[1]  # the profiling package
    for candidate in (here / packaged, here.parent / checkout):
        if (candidate / marker).is_file():
            return candidate
    raise DatabaseUnavailable(f"{engine} launcher source not found next to {here}")


def cache_dir() -> Path:
    """MEMDIAG_CACHE_DIR, else $XDG_CACHE_HOME/memdiag, else ~/.cache/memdiag."""
    if explicit := os.environ.get("MEMDIAG_CACHE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "memdiag"


def _source_files(src: Path) -> list[Path]:
    if (src / "main.go").is_file():
        return [src / name for name in ("go.mod", "go.sum", "main.go")]
    return [src / "pom.xml", *sorted((src / "src").rglob("*.java"))]


def source_hash(src: Path) -> str:
    digest = hashlib.sha256()
    for path in _source_files(src):
        digest.update(path.relative_to(src).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def jvm_flags() -> list[str]:
    """MEMDIAG_JVM_OPTS (shell words) replaces the defaults, for measuring other settings."""
    raw = os.environ.get("MEMDIAG_JVM_OPTS")
    return shlex.split(raw) if raw is not None else list(DEFAULT_JVM_FLAGS)


def launcher_command(engine: str, *, quiet: bool = False) -> list[str]:
    """The argv prefix that runs `engine`'s launcher, building it first if needed."""
    if engine == MONGO_JAVA:
        java = shutil.which("java")
        if java is None:
            raise DatabaseUnavailable(f"java not found: {_ALTERNATIVES[MONGO_JAVA]}")
        jar = _ensure_built(MONGO_JAVA, quiet=quiet) / "launcher.jar"
        return [java, *jvm_flags(), "-jar", str(jar)]
    return [str(_ensure_built(FERRETDB, quiet=quiet))]


def _ensure_built(engine: str, *, quiet: bool) -> Path:
    """The cached build (a binary for Go, a folder with the jar and its lib/ for Java)."""
    src = launcher_source_dir(engine)
    target = cache_dir() / f"{engine}-launcher-{source_hash(src)}"
    if _built(engine, target):
        return target
    with _thread_lock, _file_lock(cache_dir() / f"{engine}-launcher.lock"):
        if _built(engine, target):  # another process built it while we waited
            return target
        tool = _build_tool(engine)
        if not quiet:
            print(
                f"Building the {engine} launcher into {target} (first use; about a minute)...",
                file=sys.stderr,
                flush=True,
            )
        (_build_java if engine == MONGO_JAVA else _build_go)(tool, src, target)
        return target


def _build_tool(engine: str) -> str:
    """mvn or go, found before anything is printed, so its absence is one line."""
    name, what = ("mvn", "Maven (mvn)") if engine == MONGO_JAVA else ("go", "Go")
    tool = shutil.which(name)
    if tool is None:
        raise DatabaseUnavailable(f"{what} not found: {_ALTERNATIVES[engine]}")
    return tool


def _built(engine: str, target: Path) -> bool:
    if engine == MONGO_JAVA:
        return (target / "launcher.jar").is_file()
    return target.is_file() and os.access(target, os.X_OK)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_go(go: str, src: Path, binary: Path) -> None:
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
        raise DatabaseUnavailable("go build of the FerretDB launcher failed: " + _tail(proc.stderr))
    tmp.replace(binary)


def _build_java(mvn: str, src: Path, target: Path) -> None:
    # Build a copy: the packaged source may be read-only, and the checkout stays clean.
    with tempfile.TemporaryDirectory(prefix=target.name + ".tmp", dir=target.parent) as tmp:
        work = Path(tmp) / "src"
        shutil.copytree(src, work, ignore=shutil.ignore_patterns("target"))
        proc = subprocess.run(
            [mvn, "-q", "-B", "-Dstyle.color=never", "package"],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        jar = work / "target" / "launcher.jar"
        if proc.returncode != 0 or not jar.is_file():
            # Maven reports build errors on stdout.
            raise DatabaseUnavailable(
                "mvn package of the mongo-java launcher failed: " + _tail(proc.stdout + proc.stderr)
            )
        out = Path(tmp) / "out"
        out.mkdir()
        jar.replace(out / "launcher.jar")
        (work / "target" / "lib").replace(out / "lib")
        out.replace(target)  # atomic: a half-built folder is never seen


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-5:]) or "no output"


def mongo_java_server_version() -> str:
    """The mongo-java-server version the launcher is built from (its pom.xml), or ""."""
    try:
        pom = (launcher_source_dir(MONGO_JAVA) / "pom.xml").read_text()
    except (OSError, DatabaseUnavailable):
        return ""
    start = pom.find("<mongo-java-server.version>")
    end = pom.find("</mongo-java-server.version>")
    return pom[start + len("<mongo-java-server.version>") : end].strip() if 0 <= start < end else ""
