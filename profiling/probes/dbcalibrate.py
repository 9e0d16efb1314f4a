"""DB calibration: how long the database takes to hand back one task, against the client's decode.

A run's figures mean little without knowing whether the DB kept up: a DB that takes 30x
the client's own decode to return a task makes every design that reads tasks DB-bound.
`calibrate` writes one task-like document (`profiling.probes.taskdoc`) into a scratch collection,
times `find_one({"_id": ...})` with `RawBSONDocument` (so the client does not decode: the
figure is the DB's share plus the wire), times PyMongo's `bson.decode` of the same bytes,
and drops the collection. Medians of `reads` after `warmup_reads`, because the machines
this runs on are shared and noisy. Every run calls it after its load
(`profiling.run.state`); `python -m profiling.benchmarks.dbcalibrate` prints the table of
engines and sizes in docs/database.md.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bson
import pymongo
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection

from profiling.errors import HarnessError, UsageError
from profiling.probes.taskdoc import task_document

MIB = 1024 * 1024
SCRATCH_DATABASE = "memdiag_calibration"


@dataclass(frozen=True, slots=True)
class Calibration:
    """One task's read cost on a DB: `find_one` (DB + wire) and the client's decode, in ms."""

    engine: str
    segments: int
    words_per_segment: int
    doc_bytes: int
    find_one_ms: float
    decode_ms: float
    reads: int

    @property
    def ratio(self) -> float:
        """The DB's share of a read in units of the client's own decode of it."""
        return self.find_one_ms / self.decode_ms

    @property
    def db_ms_per_mib(self) -> float:
        return self.find_one_ms / (self.doc_bytes / MIB)


def _median_ms(action: Callable[[], object], reads: int, warmup: int) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(reads):
        t0 = time.perf_counter()
        action()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(samples)


def engine_name(client: pymongo.MongoClient[Any]) -> str:
    """What the server says it is: "FerretDB <v>" or "MongoDB <v>" (mongo-java-server
    reports itself as MongoDB, with the version our launcher tells it to report)."""
    info = client.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        return f"FerretDB {info.get('ferretdbVersion') or ''}".strip()
    return f"MongoDB {info.get('version', '?')}"


def calibrate(
    mongo_uri: str,
    *,
    segments: int,
    words_per_segment: int,
    reads: int = 7,
    warmup_reads: int = 3,
    database: str | None = None,
    engine: str | None = None,
) -> Calibration:
    """Time one task of `segments` x `words_per_segment` on the DB at `mongo_uri`.

    `engine` labels the result (default: what the server's buildInfo says).
    """
    if segments < 1 or words_per_segment < 0 or reads < 1 or warmup_reads < 0:
        raise UsageError("calibrate: need segments >= 1, words >= 0, reads >= 1, warm-up >= 0")
    task_id = f"calibration-{uuid.uuid4().hex[:12]}"
    doc = task_document(task_id, segments=segments, words_per_segment=words_per_segment)
    client: pymongo.MongoClient[dict[str, Any]]
    try:
        with pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000) as client:
            coll: Collection[dict[str, Any]] = client[database or SCRATCH_DATABASE][
                f"scratch_{uuid.uuid4().hex[:12]}"
            ]
            raw_coll: Collection[RawBSONDocument] = coll.with_options(
                codec_options=CodecOptions(document_class=RawBSONDocument)
            )
            try:
                coll.insert_one(doc)
                found = raw_coll.find_one({"_id": task_id})
                if found is None:
                    raise HarnessError(f"calibration: the DB lost document {task_id}")
                raw = found.raw
                find_ms = _median_ms(
                    lambda: raw_coll.find_one({"_id": task_id}), reads, warmup_reads
                )
                decode_ms = _median_ms(lambda: bson.decode(raw), reads, warmup_reads)
                label = engine or engine_name(client)
            finally:
                coll.drop()
    except pymongo.errors.PyMongoError as exc:
        raise HarnessError(f"calibration on {mongo_uri} failed: {exc}") from exc
    return Calibration(
        engine=label,
        segments=segments,
        words_per_segment=words_per_segment,
        doc_bytes=len(raw),
        find_one_ms=find_ms,
        decode_ms=decode_ms,
        reads=reads,
    )


def time_one_field_set(
    mongo_uri: str, *, segments: int, words_per_segment: int, reads: int = 7, warmup: int = 3
) -> float:
    """Median ms of a one-field `$set` on a task of that size (whole-document writes cost)."""
    task_id = f"calibration-{uuid.uuid4().hex[:12]}"
    doc = task_document(task_id, segments=segments, words_per_segment=words_per_segment)
    counter = iter(range(1_000_000))
    client: pymongo.MongoClient[dict[str, Any]]
    try:
        with pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000) as client:
            coll: Collection[dict[str, Any]] = client[SCRATCH_DATABASE][
                f"scratch_{uuid.uuid4().hex[:12]}"
            ]
            try:
                coll.insert_one(doc)
                return _median_ms(
                    lambda: coll.update_one(
                        {"_id": task_id}, {"$set": {"progress": next(counter) / 1e6}}
                    ),
                    reads,
                    warmup,
                )
            finally:
                coll.drop()
    except pymongo.errors.PyMongoError as exc:
        raise HarnessError(f"$set timing on {mongo_uri} failed: {exc}") from exc
