"""The CPU one full-view status poll costs, timed in this process: the pre-flight's input.

db-polling, the heaviest design, answers every status poll by reading the whole task from
the DB (PyMongo's `bson.decode` of its BSON), encoding it to a JSON body (`json.dumps`),
and, in its worker, writing whole documents back (`bson.encode`). `time_poll` times those
three on a task document of the polled size (`profiling.probes.taskdoc`), in the harness
process, before any server starts, so that `profiling.run.preflight` can say whether this
machine can serve the storm's rate at that size.

CPU time (`time.thread_time`), not wall time: the machines this runs on are shared, and a
neighbour's load stretches wall time without changing how much CPU a poll needs, which is
the figure the estimate multiplies by the rate. Medians of `repeats` (3) after one warm-up:
the pre-flight times one to five sizes, largest first, and must stay within a few seconds
on a slow machine (5 repeats took 2.7 s here at a load of 6.5 on 2 CPUs, 3 about 1.5 s);
what moves its result between invocations is the machine's load, not the repeats.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import bson

from profiling.probes.taskdoc import task_document


@dataclass(frozen=True, slots=True)
class PollCost:
    """CPU seconds of the per-poll work on one task of `segments` x `words_per_segment`."""

    segments: int
    words_per_segment: int
    doc_bytes: int  # the task document's BSON size
    decode_s: float  # bson.decode of the document
    dumps_s: float  # json.dumps of the decoded document (datetimes as str)
    encode_s: float  # bson.encode of the decoded document

    @property
    def per_poll_s(self) -> float:
        return self.decode_s + self.dumps_s + self.encode_s

    def scaled(self, segments: int) -> PollCost:
        """The same work on `segments` segments, in proportion: every part is linear in
        the document's size (a larger one also meets more GC passes, so this errs low)."""
        k = segments / self.segments
        return PollCost(
            segments,
            self.words_per_segment,
            round(self.doc_bytes * k),
            self.decode_s * k,
            self.dumps_s * k,
            self.encode_s * k,
        )


def _median_cpu_s(action: Callable[[], object], repeats: int) -> float:
    # One collection first, so that the garbage of the step before is not this one's
    # cost; within the series the collector runs as it would in the server.
    gc.collect()
    action()  # warm-up: first-touch allocations and caches
    samples = []
    for _ in range(repeats):
        t0 = time.thread_time()
        action()
        samples.append(time.thread_time() - t0)
    return statistics.median(samples)


def time_poll(segments: int, words_per_segment: int, *, repeats: int = 3) -> PollCost:
    """Median CPU seconds of decode, JSON encode and BSON encode of one task of that size."""
    if segments < 1 or words_per_segment < 0 or repeats < 1:
        raise ValueError("time_poll: need segments >= 1, words >= 0, repeats >= 1")
    raw = bson.encode(
        task_document("preflight", segments=segments, words_per_segment=words_per_segment)
    )
    decoded = bson.decode(raw)
    return PollCost(
        segments=segments,
        words_per_segment=words_per_segment,
        doc_bytes=len(raw),
        decode_s=_median_cpu_s(lambda: bson.decode(raw), repeats),
        dumps_s=_median_cpu_s(lambda: json.dumps(decoded, default=str), repeats),
        encode_s=_median_cpu_s(lambda: bson.encode(decoded), repeats),
    )
