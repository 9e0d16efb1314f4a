"""Both embedded DB engines: start, serve real clients, stop, persist, and fail clearly.

Every test runs the real launcher (mongo-java-server through Java, FerretDB through Go),
whatever MEMDIAG_DB_ENGINE says, so both engines stay working.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import pytest

from profiling.errors import DatabaseUnavailable
from profiling.run.embedded_db import ENGINES, EmbeddedDB

both_engines = pytest.mark.parametrize("engine", ENGINES)


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie no one reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@both_engines
def test_engine_serves_and_stops_cleanly(engine: str) -> None:
    db = EmbeddedDB(engine=engine).start()
    pid, port = db.pid, db.port
    try:
        with pymongo.MongoClient(db.uri, serverSelectionTimeoutMS=10_000) as client:
            docs = client.engine_probe.docs
            docs.insert_one({"_id": "t1", "segments": [{"id": 0, "text": "hello"}]})
            assert docs.find_one({"_id": "t1"}) == {
                "_id": "t1",
                "segments": [{"id": 0, "text": "hello"}],
            }
            docs.update_one({"_id": "t1"}, {"$set": {"status": "done"}})
            assert docs.find_one({"_id": "t1"}, {"status": 1}) == {"_id": "t1", "status": "done"}
    finally:
        code = db.stop()
    assert code == 0
    assert _gone(pid)
    assert _port_free(port), f"port {port} still taken after stop"


@both_engines
def test_a_fresh_db_is_empty(engine: str) -> None:
    with EmbeddedDB(engine=engine) as db, pymongo.MongoClient(db.uri) as client:
        client.fresh.docs.insert_one({"_id": 1})
    with EmbeddedDB(engine=engine) as db, pymongo.MongoClient(db.uri) as client:
        assert "fresh" not in client.list_database_names()


@both_engines
def test_data_dir_persists_across_restart(engine: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedDB(engine=engine, data_dir=data) as db, pymongo.MongoClient(db.uri) as client:
        client.kept.docs.insert_one({"_id": "a", "n": 1})
    assert any(data.iterdir()), "the DB wrote nothing into its data dir"
    with EmbeddedDB(engine=engine, data_dir=data) as db, pymongo.MongoClient(db.uri) as client:
        assert client.kept.docs.find_one({"_id": "a"}) == {"_id": "a", "n": 1}


@both_engines
def test_launcher_exits_when_its_parent_is_killed(engine: str) -> None:
    # A parent process that starts the DB, prints the launcher's pid, and sleeps.
    code = (
        "import sys, time\n"
        "from profiling.run.embedded_db import EmbeddedDB\n"
        f"db = EmbeddedDB(engine={engine!r}).start()\n"
        "print(db.pid, db.uri, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, parent.stderr.read() if parent.stderr else ""
        launcher_pid = int(line.split()[0])
        assert not _gone(launcher_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 30
        while not _gone(launcher_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _gone(launcher_pid):
            os.kill(launcher_pid, signal.SIGKILL)  # don't leave it behind, then fail
            pytest.fail(f"{engine} launcher {launcher_pid} outlived its killed parent")
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.communicate()


@both_engines
def test_missing_toolchain_is_a_one_line_error(engine: str, tmp_path: Path) -> None:
    # A PATH with no java, mvn or go, and an empty build cache: nothing can be built or run.
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {
        **os.environ,
        "PATH": str(empty),
        "MEMDIAG_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path(__file__).resolve().parents[2])),
    }
    res = subprocess.run(
        [sys.executable, "-m", "profiling", "db", "--engine", engine],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 3, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "MEMDIAG_MONGO_URI" in lines[0]
    other = "ferretdb" if engine == "mongo-java" else "mongo-java"
    assert f"MEMDIAG_DB_ENGINE={other}" in lines[0]
    assert ("java" if engine == "mongo-java" else "Go") in lines[0]


@both_engines
def test_missing_build_tool_is_a_one_line_error(engine: str, tmp_path: Path) -> None:
    # The build tool alone missing (java or go present), with nothing cached yet.
    tool = {"mongo-java": "java", "ferretdb": "mvn"}[engine]  # the one that is there
    found = shutil.which(tool)
    assert found, f"{tool} must be installed for this test (bash .ci/setup)"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / tool).symlink_to(found)
    env = {
        **os.environ,
        "PATH": str(bin_dir),
        "MEMDIAG_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path(__file__).resolve().parents[2])),
    }
    res = subprocess.run(
        [sys.executable, "-m", "profiling", "db", "--engine", engine],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 3, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert ("Maven (mvn) not found" if engine == "mongo-java" else "Go not found") in lines[0]
    assert "MEMDIAG_MONGO_URI" in lines[0]


@pytest.mark.slow
def test_concurrent_first_uses_build_once(tmp_path: Path) -> None:
    # mongo-java only: a Go build takes a minute, and the lock is the same code for both.
    env = {
        **os.environ,
        "MEMDIAG_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path(__file__).resolve().parents[2])),
    }
    code = (
        "from profiling.run.launchers import launcher_command; "
        "print(launcher_command('mongo-java'))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert results[0][0] == results[1][0]  # the same jar
    building = sum(err.count("Building the mongo-java launcher") for _, err in results)
    assert building == 1, results
    built = list((tmp_path / "cache").glob("mongo-java-launcher-*/launcher.jar"))
    assert len(built) == 1
    assert not list((tmp_path / "cache").glob("*.tmp*")), "a temporary build folder was left"


@both_engines
def test_a_busy_port_fails_with_the_reason(engine: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = EmbeddedDB(engine=engine, port=port)
        with pytest.raises(DatabaseUnavailable) as info:
            db.start()
    message = str(info.value)
    assert f"embedded {engine} DB did not start" in message
    assert "address already in use" in message.lower(), message
    assert "\tat " not in message, "a Java stack trace instead of the reason"
