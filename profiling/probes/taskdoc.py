"""A task document shaped like the reference server's synthetic transcription tasks.

The DB calibration (`profiling.probes.dbcalibrate`) needs a document of a task's size and
shape without importing the server (profiling observes it from outside): segments of
`id, start, end, text, speaker` and `words`, each word `{word, start, end, probability}`,
as the synthetic engine produces. Seeded, so two engines are timed on the same bytes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

# Words of a plausible transcript; only their lengths matter for the document's size.
_VOCABULARY = (
    "the",
    "status",
    "poll",
    "loads",
    "whole",
    "task",
    "documents",
    "while",
    "transcription",
    "segments",
    "keep",
    "arriving",
    "so",
    "memory",
    "grows",
    "with",
    "every",
    "open",
    "tab",
    "and",
    "worker",
    "checkpoint",
    "rewrites",
    "transcript",
)
_SPEAKERS = ("SPEAKER_00", "SPEAKER_01", "SPEAKER_02")


def segment(rng: random.Random, index: int, start: float, words: int) -> dict[str, Any]:
    """One segment of `words` timed words starting at `start` seconds."""
    t = start
    word_list: list[dict[str, Any]] = []
    for _ in range(words):
        length = rng.uniform(0.15, 0.6)
        word_list.append(
            {
                "word": " " + rng.choice(_VOCABULARY),
                "start": round(t, 3),
                "end": round(t + length, 3),
                "probability": round(rng.uniform(0.55, 0.999), 4),
            }
        )
        t += length + rng.uniform(0.0, 0.15)
    text = "".join(w["word"] for w in word_list).strip()
    return {
        "id": index,
        "start": round(start, 3),
        "end": round(t, 3),
        "text": text.capitalize() + ".",
        "speaker": rng.choice(_SPEAKERS),
        "words": word_list,
    }


def task_document(
    task_id: str, *, segments: int, words_per_segment: int, seed: int = 0
) -> dict[str, Any]:
    """A running task with `segments` segments, as a server would store it."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    start = 0.0
    for i in range(segments):
        seg = segment(rng, i, start, words_per_segment)
        out.append(seg)
        start = float(seg["end"]) + rng.uniform(0.05, 0.4)
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "_id": task_id,
        "user_id": "calibration",
        "status": "running",
        "progress": 0.5,
        "filename": "calibration.wav",
        "created_at": now,
        "updated_at": now,
        "segment_count": segments,
        "segments": out,
    }
