"""The DB calibration probe on both real embedded engines."""

from __future__ import annotations

import subprocess
import sys

import bson
import pymongo
import pytest

from profiling.errors import UsageError
from profiling.probes.dbcalibrate import calibrate
from profiling.probes.taskdoc import task_document
from profiling.run.embedded_db import ENGINES, EmbeddedDB


@pytest.fixture(scope="module", params=ENGINES)
def engine_db(request: pytest.FixtureRequest):
    with EmbeddedDB(engine=request.param) as db:
        yield db


def test_calibration_figures_are_real(engine_db: EmbeddedDB, database_name: str) -> None:
    cal = calibrate(
        engine_db.uri,
        segments=300,
        words_per_segment=12,
        reads=3,
        warmup_reads=1,
        database=database_name,
        engine=engine_db.engine,
    )
    assert cal.engine == engine_db.engine
    assert (cal.segments, cal.words_per_segment, cal.reads) == (300, 12, 3)
    assert cal.find_one_ms > 0 and cal.decode_ms > 0 and cal.ratio > 0
    expected = len(bson.encode(task_document("x", segments=300, words_per_segment=12)))
    assert abs(cal.doc_bytes - expected) <= 0.2 * expected, (cal.doc_bytes, expected)
    with pymongo.MongoClient(engine_db.uri) as client:
        leftovers = [
            name
            for name in client[database_name].list_collection_names()
            if name.startswith("scratch_")
        ]
    assert leftovers == []


def test_calibration_grows_with_the_document(engine_db: EmbeddedDB, database_name: str) -> None:
    small = calibrate(engine_db.uri, segments=10, words_per_segment=12, database=database_name)
    large = calibrate(engine_db.uri, segments=500, words_per_segment=12, database=database_name)
    assert large.doc_bytes > 20 * small.doc_bytes
    assert small.engine  # labelled from buildInfo when no engine is given


def test_calibration_rejects_nonsense(engine_db: EmbeddedDB) -> None:
    with pytest.raises(UsageError):
        calibrate(engine_db.uri, segments=0, words_per_segment=12)


def test_cli_prints_one_table_row(engine_db: EmbeddedDB) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "profiling.benchmarks.dbcalibrate",
            "--segments",
            "50",
            "--reads",
            "2",
            "--warmup-reads",
            "1",
            "--mongo-uri",
            engine_db.uri,
            "--no-header",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    cells = [c.strip() for c in lines[0].strip("|").split("|")]
    assert cells[1] == "50"
    assert float(cells[3]) > 0 and float(cells[4]) > 0


def test_cli_bad_engine_is_a_usage_error() -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "profiling.benchmarks.dbcalibrate",
            "--segments",
            "5",
            "--db-engine",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "DB engine" in res.stderr
