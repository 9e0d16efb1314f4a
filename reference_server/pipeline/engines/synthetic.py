"""The synthetic engine: realistic segments at a set pace, deterministic for a seed.

It needs no model and no audio, so load runs are fast and repeatable, yet its
segments look like Whisper's (text, word timestamps with probabilities, speakers), so
documents have the size and shape of the incident's: 3,000 segments of 12 words are
about 4 MiB of BSON.

A task can start with `initial_segments` already transcribed: those are emitted at once
(the same segments, in the same order, as a task that grew to that size), then the rest
at `segments_per_second`, on a fixed schedule (a slow write does not slow the engine).
Load scenarios use it to poll tasks of a fixed size in every design, however fast each
design lets its worker grow them.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from reference_server.pipeline.engines.base import (
    EngineError,
    EngineInput,
    EngineSettings,
    SegmentSink,
    TaskCancelled,
    sanitize_segment,
)

_PROSE = (
    "the memory of the server keeps growing while the frontend polls every second and "
    "each request loads the whole task document from the database including all segments "
    "with word timestamps so we moved live tasks into a dictionary and the status endpoint "
    "answers from memory without a query but the response is still serialized in full "
    "which costs time and allocations on every poll we should page the segments and return "
    "a small summary instead of the transcript itself because a long recording has "
    "thousands of segments and each one carries its words start end and probability"
)
_WORDS = _PROSE.split()
_SPEAKERS = ("SPEAKER_00", "SPEAKER_01", "SPEAKER_02")

MAX_SEGMENTS = 20_000
MAX_WORDS = 60


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    segments: int = 100
    segments_per_second: float = 10.0
    words_per_segment: int = 12
    seed: int = 0
    initial_segments: int = 0
    fail_after: int | None = None  # fail the task after this many segments

    @property
    def duration_s(self) -> float:
        return (self.segments - self.initial_segments) / self.segments_per_second


def make_segment(rng: random.Random, index: int, start: float, words: int) -> dict[str, Any]:
    t = start
    word_list = []
    for _ in range(words):
        length = rng.uniform(0.15, 0.6)
        word_list.append(
            {
                "word": " " + rng.choice(_WORDS),
                "start": round(t, 3),
                "end": round(t + length, 3),
                "probability": round(rng.uniform(0.55, 0.999), 4),
            }
        )
        t += length + rng.uniform(0.0, 0.15)
    return {
        "id": index,
        "start": round(start, 3),
        "end": round(t, 3),
        "text": "".join(str(w["word"]) for w in word_list).strip().capitalize() + ".",
        "speaker": rng.choice(_SPEAKERS),
        "words": word_list,
    }


def generate(params: SyntheticParams) -> list[dict[str, Any]]:
    """All segments at once (tests compare against this)."""
    rng = random.Random(params.seed)
    out, start = [], 0.0
    for i in range(params.segments):
        seg = make_segment(rng, i, start, params.words_per_segment)
        start = seg["end"] + rng.uniform(0.05, 0.4)
        out.append(sanitize_segment(seg, i))
    return out


class SyntheticEngine:
    name = "synthetic"

    def transcribe(self, inp: EngineInput, emit: SegmentSink, cancelled: threading.Event) -> None:
        params = inp.options.get("params")
        if not isinstance(params, SyntheticParams):
            # An upload transcribed synthetically: one segment per ~3 s of audio.
            seconds = inp.duration_s or 3.0
            params = SyntheticParams(segments=max(1, int(seconds // 3)), segments_per_second=50)
        rng = random.Random(params.seed)
        interval_s = 1.0 / params.segments_per_second
        start = 0.0
        # Segments fall due on a fixed schedule, like a model working at a set speed: time
        # the design spends in `emit` (db-polling's checkpoint merge) delays the next
        # segments but does not slow the engine down, so every design gets the same work.
        began = time.monotonic()
        for i in range(params.segments):
            if params.fail_after is not None and i >= params.fail_after:
                raise EngineError(f"synthetic failure after {i} segment(s) (fail_after)")
            due_s = began + (i - params.initial_segments + 1) * interval_s
            wait_s = max(0.0, due_s - time.monotonic()) if i >= params.initial_segments else 0.0
            if cancelled.wait(wait_s) or cancelled.is_set():
                raise TaskCancelled()
            seg = make_segment(rng, i, start, params.words_per_segment)
            start = seg["end"] + rng.uniform(0.05, 0.4)
            emit(sanitize_segment(seg, i), (i + 1) / params.segments)


def create(settings: EngineSettings) -> SyntheticEngine:
    return SyntheticEngine()
