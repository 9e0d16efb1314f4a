"""openai-whisper: a small randomly initialised model saved as a checkpoint, loaded through
`whisper.load_model(path)`, running a real transcription (its text is noise by design)."""

from __future__ import annotations

import dataclasses
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


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    # The English-only vocabulary (51864) and the 30 s audio context (1500) are fixed by
    # Whisper's tokenizer and mel front end; everything else is as small as it goes.
    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
        n_vocab=51864, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1,
    )  # fmt: skip
    model = Whisper(dims)
    with torch.no_grad():
        for param in model.parameters():  # some are torch.empty(): never leave them as is
            torch.nn.init.normal_(param, std=0.02)
    path = tmp_path_factory.mktemp("whisper") / "random-tiny.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


def test_random_checkpoint_transcribes_into_wellformed_segments(
    random_checkpoint: Path, speech_16k: tuple[Path, float]
) -> None:
    wav, duration_s = speech_16k
    engine = create_engine("openai-whisper", EngineSettings(whisper_model=str(random_checkpoint)))
    emitted: list[tuple[dict[str, Any], float]] = []
    engine.transcribe(
        # One greedy pass of at most 24 tokens a window: a random decoder never stops on
        # its own, and word alignment of 224 noise tokens takes most of a minute.
        EngineInput(wav, duration_s, options={"temperature": 0.0, "sample_len": 24}),
        lambda segment, fraction: emitted.append((segment, fraction)),
        threading.Event(),
    )
    assert emitted, "the decoder produced no segment at all"
    assert [seg["id"] for seg, _ in emitted] == list(range(len(emitted)))
    for seg, fraction in emitted:
        assert set(seg) == {"id", "start", "end", "text", "speaker", "words"}
        assert isinstance(seg["text"], str)
        assert 0.0 <= seg["start"] <= seg["end"] <= duration_s + 0.01
        assert 0.0 < fraction <= 1.0
        for w in seg["words"]:
            assert set(w) == {"word", "start", "end", "probability"}
            assert 0.0 <= w["start"] <= w["end"] <= duration_s + 0.01
            assert 0.0 <= w["probability"] <= 1.0


def test_cancel_is_honoured(random_checkpoint: Path, speech_16k: tuple[Path, float]) -> None:
    engine = create_engine("openai-whisper", EngineSettings(whisper_model=str(random_checkpoint)))
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(TaskCancelled):
        engine.transcribe(EngineInput(speech_16k[0]), lambda s, f: None, cancelled)


def test_model_name_missing_from_the_cache_is_not_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(EngineError, match=r"'tiny\.en' is not in the cache .*never downloaded"):
        create_engine("openai-whisper", EngineSettings(whisper_model="tiny.en"))
    assert not (tmp_path / "whisper").exists() or not any((tmp_path / "whisper").iterdir())


def test_unknown_model_name_lists_the_names() -> None:
    with pytest.raises(EngineError, match="neither a checkpoint file nor a model name"):
        create_engine("openai-whisper", EngineSettings(whisper_model="no-such-model"))


def test_long_audio_is_cut_at_its_quietest_point() -> None:
    import numpy as np

    from reference_server.pipeline.engines.openaiwhisper_engine import _clip_end_s

    rate = 16_000
    audio = np.full(70 * rate, 0.5, dtype=np.float32)
    audio[int(24.0 * rate) : int(24.3 * rate)] = 0.0  # the only pause in 20..30 s
    end_s = _clip_end_s(audio, 0.0, 70.0)
    assert 24.0 <= end_s <= 24.3
    assert _clip_end_s(audio, 50.0, 70.0) == 70.0  # the last clip runs to the end
