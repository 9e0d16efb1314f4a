"""openai-whisper: ``whisper.load_model(path)`` on a checkpoint file or a cached model.

Never downloads: a model name is resolved to the checkpoint file in the user's whisper
cache (``$XDG_CACHE_HOME/whisper`` or ``~/.cache/whisper``) and loaded by path, with the
name's alignment heads set as ``load_model(name)`` would; a name not in the cache is an
``EngineError``. (``load_model(name)`` itself downloads a missing or mismatched file.)

``whisper.transcribe`` returns every segment only at the end, so to stream segments into
the task, and to honour a cancel, the audio is fed in clips of at most 30 s (one Whisper
window) cut at the quietest point near the window's end, with the previous clip's text as
the prompt, like Whisper's own conditioning on previous text.
"""

from __future__ import annotations

import gc
import os
import threading
import warnings
import wave
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

NAME = "openai-whisper"
DEFAULT_MODEL = "tiny.en"
_INSTALL_HINT = f"Engine {NAME!r} needs: pip install '.[whisper]'"
_RATE_HZ = 16_000
_CLIP_MAX_S = 30.0  # one Whisper window
_CLIP_MIN_S = 20.0  # cut between 20 and 30 s, where the audio is quietest
_QUIET_FRAME_S = 0.1
_PROMPT_CHARS = 200
_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # whisper.transcribe's default
_DECODE_OPTIONS = ("beam_size", "best_of", "patience", "sample_len")

# One model object per (checkpoint, device). Whisper's decoder installs kv-cache hooks on
# the shared modules for each decode, so two threads must not decode on one model at once.
_models: dict[tuple[str, str], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def whisper_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "whisper"


def resolve_checkpoint(name_or_path: str) -> tuple[Path, str | None]:
    """(checkpoint file, official model name or None); EngineError if not on this machine."""
    import whisper

    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path, None
    urls: dict[str, str] = getattr(whisper, "_MODELS", {})
    if name_or_path in urls:
        cached = whisper_cache_dir() / os.path.basename(urls[name_or_path])
        if cached.is_file():
            return cached, name_or_path
        raise EngineError(
            f"openai-whisper model {name_or_path!r} is not in the cache ({cached}); models "
            "are never downloaded at run time: put the checkpoint there or pass its path"
        )
    raise EngineError(
        f"openai-whisper model {name_or_path!r} is neither a checkpoint file nor a model "
        f"name ({', '.join(urls)})"
    )


class OpenAIWhisperEngine:
    name = NAME

    def __init__(self, settings: EngineSettings, checkpoint: Path, model_name: str | None):
        self._settings = settings
        self._checkpoint = checkpoint
        self._model_name = model_name

    def _model(self) -> tuple[Any, threading.Lock]:
        import whisper

        key = (str(self._checkpoint), self._settings.device)
        with _models_lock:
            entry = _models.get(key)
            if entry is None:
                try:
                    model = whisper.load_model(str(self._checkpoint), device=self._settings.device)
                except Exception as exc:
                    raise EngineError(
                        f"could not load openai-whisper checkpoint {self._checkpoint}: {exc}"
                    ) from exc
                heads = getattr(whisper, "_ALIGNMENT_HEADS", {}).get(self._model_name or "")
                if heads is not None:
                    model.set_alignment_heads(heads)
                _warm_tokenizer(model)
                entry = (model, threading.Lock())
                _models[key] = entry
        return entry

    def transcribe(self, inp: EngineInput, emit: SegmentSink, cancelled: threading.Event) -> None:
        if inp.audio_path is None:
            raise EngineError(f"engine {NAME!r} needs an audio file")
        model, model_lock = self._model()
        audio = _load_audio(inp.audio_path)
        total_s = len(audio) / _RATE_HZ
        language = inp.options.get("language", self._settings.language)
        if not getattr(model, "is_multilingual", True):
            language = "en"
        # Per-task decoding knobs whisper understands (beam_size, best_of, sample_len...).
        decode_options = {k: inp.options[k] for k in _DECODE_OPTIONS if k in inp.options}
        index = 0
        prompt: str | None = None
        clip_start_s = 0.0
        while clip_start_s < total_s:
            if cancelled.is_set():
                raise TaskCancelled()
            clip_end_s = _clip_end_s(audio, clip_start_s, total_s)
            clip = audio[int(clip_start_s * _RATE_HZ) : int(clip_end_s * _RATE_HZ)]
            try:
                with model_lock:
                    result = model.transcribe(
                        clip,
                        language=language,
                        word_timestamps=True,
                        fp16=False,  # CPU has no fp16; asking for it only warns
                        initial_prompt=prompt,
                        # whisper's fallback ladder by default; a float pins one decode
                        temperature=inp.options.get("temperature", _TEMPERATURES),
                        **decode_options,
                        verbose=None,
                    )
            except Exception as exc:
                raise EngineError(f"openai-whisper failed while decoding: {exc}") from exc
            fraction = clip_end_s / total_s
            for seg in result.get("segments", ()):
                if cancelled.is_set():
                    raise TaskCancelled()
                raw = _shift(seg, index, clip_start_s, clip_end_s)
                emit(sanitize_segment(raw, index), fraction)
                index += 1
            text = str(result.get("text") or "").strip()
            prompt = text[-_PROMPT_CHARS:] or None
            clip_start_s = clip_end_s


def _warm_tokenizer(model: Any) -> None:
    # whisper reads its tiktoken vocabulary without closing the file; the tokenizer is
    # cached, so build it once here, where the ResourceWarning can be silenced, instead of
    # inside a task (and a strict test run) later.
    from whisper.tokenizer import get_tokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        get_tokenizer(model.is_multilingual, num_languages=model.num_languages)
        gc.collect()  # finalize the unclosed file inside this block


def _load_audio(path: Path) -> Any:
    import numpy as np

    try:
        with wave.open(str(path), "rb") as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (_RATE_HZ, 1, 2):
                pcm = wav.readframes(wav.getnframes())
                return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    except (OSError, EOFError, wave.Error):
        pass
    # Not the 16 kHz mono WAV the converter writes: let whisper decode it (via ffmpeg).
    import whisper

    try:
        return whisper.load_audio(str(path))
    except Exception as exc:
        raise EngineError(f"openai-whisper could not read the audio {path.name}: {exc}") from exc


def _clip_end_s(audio: Any, start_s: float, total_s: float) -> float:
    if total_s - start_s <= _CLIP_MAX_S:
        return total_s
    import numpy as np

    frame = int(_QUIET_FRAME_S * _RATE_HZ)
    lo, hi = int((start_s + _CLIP_MIN_S) * _RATE_HZ), int((start_s + _CLIP_MAX_S) * _RATE_HZ)
    window = audio[lo:hi]
    usable = len(window) // frame * frame
    energy = np.square(window[:usable].reshape(-1, frame)).mean(axis=1)
    quietest = int(np.argmin(energy))
    return (lo + quietest * frame + frame // 2) / _RATE_HZ


def _shift(seg: dict[str, Any], index: int, offset_s: float, limit_s: float) -> dict[str, Any]:
    """Clip-relative times -> audio times, kept inside the clip.

    Whisper pads every clip to a 30 s window and may place timestamps in the padding (a
    weak model readily does); a time past the clip's end would be past the audio.
    """

    def at(value: Any) -> float:
        return min(limit_s, float(value or 0.0) + offset_s)

    return {
        "id": index,
        "start": at(seg.get("start")),
        "end": at(seg.get("end")),
        "text": seg.get("text", ""),
        "words": [
            {
                "word": w.get("word", ""),
                "start": at(w.get("start")),
                "end": at(w.get("end")),
                "probability": w.get("probability", 0.0),
            }
            for w in seg.get("words") or ()
        ],
    }


def create(settings: EngineSettings) -> OpenAIWhisperEngine:
    try:
        import whisper  # noqa: F401  (fail at create time, not mid-task)
    except ImportError:
        raise EngineError(_INSTALL_HINT) from None
    checkpoint, model_name = resolve_checkpoint(settings.whisper_model or DEFAULT_MODEL)
    return OpenAIWhisperEngine(settings, checkpoint, model_name)
