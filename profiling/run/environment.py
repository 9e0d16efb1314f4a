"""The environment a run is measured in: host, versions, git commit and the DB's identity.

Recorded in every run.json (`Environment`), so a report says what machine, packages and
database produced its figures.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from profiling.errors import HarnessError
from profiling.results.model import Environment
from profiling.run.embedded_db import EmbeddedDB

_VERSIONS = ("aiohttp", "locust", "memdiag", "motor", "pymongo", "orjson", "memray")


def _git_commit(cwd: Path) -> str:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def db_version(mongo_uri: str) -> tuple[str, str]:
    """("FerretDB" or "MongoDB", version) from buildInfo; ("", "") if unreachable."""
    import pymongo

    try:
        client: pymongo.MongoClient[dict[str, object]]
        with pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000) as client:
            info = client.admin.command("buildInfo")
    except pymongo.errors.PyMongoError:
        return "", ""
    if "ferretdbVersion" in info:
        version = str(info["ferretdbVersion"])
        if version in ("", "unknown"):
            version = _launcher_ferretdb_version()  # our launcher is built without ldflags
        return "FerretDB", f"{version} (MongoDB {info.get('version', '?')} compatible)".strip()
    return "MongoDB", str(info.get("version", ""))


def embedded_db_identity(db: EmbeddedDB) -> tuple[str, str]:
    """(engine and backend, version) of a running embedded DB, for the run's environment."""
    _, version = db_version(db.uri)
    if db.engine != "ferretdb" and version:
        version = f"(MongoDB {version} compatible)"  # what it reports to drivers
    return db.description, version


def _launcher_ferretdb_version() -> str:
    """The FerretDB module version the embedded launcher is built from (its go.mod)."""
    from profiling.run.embedded_db import launcher_source_dir

    try:
        for line in (launcher_source_dir() / "go.mod").read_text().splitlines():
            parts = line.split()
            if "github.com/FerretDB/FerretDB" in parts:
                return parts[parts.index("github.com/FerretDB/FerretDB") + 1]
    except (OSError, IndexError, HarnessError):
        pass
    return ""


def environment(*, db_server: str, db_version: str, cwd: Path | None = None) -> Environment:
    versions = {}
    for package in _VERSIONS:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return Environment(
        host=socket.gethostname(),
        cpu_count=len(os.sched_getaffinity(0)),
        platform=platform.platform(),
        python=sys.version.split()[0],
        # The user's checkout when run from one, else the one memdiag itself runs from.
        git_commit=_git_commit(cwd or Path.cwd()) or _git_commit(Path(__file__).resolve().parent),
        db_server=db_server,
        db_version=db_version,
        versions=versions,
    )
