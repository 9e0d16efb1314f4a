"""`memdiag db`: prints its URI, serves real clients, stops cleanly and leaves nothing."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

from profiling.run.embedded_db import ENGINES


@pytest.mark.parametrize("engine", ENGINES)
def test_memdiag_db_serves_and_cleans_up(engine):
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiling", "db", "--engine", engine],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        uri = proc.stdout.readline().strip()
        assert re.fullmatch(r"mongodb://127\.0\.0\.1:\d+/", uri), uri
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
            client.probe.docs.insert_one({"_id": "a", "words": ["memory", "database"]})
            assert client.probe.docs.find_one({"_id": "a"}) == {
                "_id": "a",
                "words": ["memory", "database"],
            }
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    if engine == "ferretdb":
        data_dir = re.search(r"FerretDB \(embedded, SQLite\) in (\S+),", err)
        assert data_dir, err
        assert not Path(data_dir.group(1)).exists(), "the temporary data dir must be removed"
    else:
        assert re.search(r"mongo-java-server [\d.]+ \(embedded, memory backend\), pid", err), err


@pytest.mark.parametrize(
    ("engine", "stored"), [("ferretdb", "kept.sqlite"), ("mongo-java", "memdiag.mv.db")]
)
def test_memdiag_db_keeps_an_explicit_data_dir(tmp_path, engine, stored):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "profiling",
            "db",
            "--engine",
            engine,
            "--data-dir",
            str(tmp_path / "d"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    uri = proc.stdout.readline().strip()
    with pymongo.MongoClient(uri) as client:
        client.kept.docs.insert_one({"_id": 1})
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert (tmp_path / "d" / stored).is_file()


def test_memdiag_db_rejects_a_bad_port():
    res = subprocess.run(
        [sys.executable, "-m", "profiling", "db", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.strip() == "memdiag db: --port 70000 is not a TCP port (0-65535)"


def test_memdiag_db_rejects_a_bad_engine():
    res = subprocess.run(
        [sys.executable, "-m", "profiling", "db", "--engine", "mongod"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "memdiag db: --engine 'mongod' is not a DB engine; use one of mongo-java, ferretdb"
    )


@pytest.mark.parametrize("command", ["compare", "sweep", "measure"])
def test_a_bad_db_engine_fails_before_anything_starts(tmp_path, command):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "profiling", command, "--db-engine", "mongod", "-o", str(out)]
    if command == "sweep":
        argv += ["--param", "rate", "--values", "2,4"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "--db-engine 'mongod' is not a DB engine" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists()
