"""Real speech for the uploads scenario, made on this machine and cached.

The fix report's `gc_after_conversion` claim ("100 MB or more per audio file") is about
uploads of about 10 minutes of speech, WAV and MP3, that the server decodes with pydub.
`ensure_speech(spec)` returns a folder with `speech.wav`, `speech.mp3` and `audio.json`:
espeak-ng speaks a few fixed English sentences (the seed picks their order, pace and
pauses), pydub joins them up to the spec's duration and exports both files (MP3 through
ffmpeg). The folder is built under a temporary name and renamed into place, so a build cut
off half-way is never mistaken for a finished one; a folder whose audio.json matches the
spec is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from profiling.artefacts import write_json
from profiling.errors import HarnessError
from profiling.run.launchers import cache_dir as memdiag_cache_dir

SCHEMA_VERSION = 1
# Bump when the sentences, the voices or the way they are joined change: the cached
# folders' names carry it, so an old build is never taken for a new one.
GENERATOR_VERSION = 1
FILES = ("speech.wav", "speech.mp3")
META = "audio.json"
TOOLS = ("espeak-ng", "ffmpeg")
SENTENCES = (
    "The status of the task is polled about once a second by every open tab.",
    "Memory is growing while the worker converts the uploaded recording.",
    "The database answers slowly when each poll loads the whole document.",
    "Please send the transcript of the meeting to everyone on the team.",
    "After the conversion, the decoded samples should be released at once.",
    "We measured the peak resident set size before and after the change.",
    "A cancelled task must leave nothing behind in the registry.",
    "Thank you for waiting, the transcription will be ready in a minute.",
)
SPEEDS_WPM = (140, 160, 175)
PAUSE_MS = (250, 900)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class SpeechSpec:
    """What to make: a duration of speech at a sample rate and channel count (16-bit
    samples), its MP3's bitrate, and the seed that orders the sentences."""

    minutes: float = 10.0
    rate_hz: int = 44100
    channels: int = 2
    mp3_kbps: int = 128
    seed: int = 0

    @property
    def frames(self) -> int:
        return round(self.minutes * 60 * self.rate_hz)

    def folder_name(self) -> str:
        key = json.dumps({"generator": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return f"speech-{self.minutes:g}min-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/memdiag/audio, else ~/.cache/memdiag/audio (or MEMDIAG_CACHE_DIR)."""
    return memdiag_cache_dir() / "audio"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def ensure_speech(
    spec: SpeechSpec,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    *,
    folder: Path | None = None,
    force: bool = False,
) -> Path:
    """The folder holding `spec`'s speech: `folder` if given, else one named after the
    spec under `cache_dir`; built unless it already holds a matching audio.json."""
    target = folder if folder is not None else cached_folder(spec, cache_dir)
    if not force and is_built(target, spec):
        return target
    if missing := missing_tools():
        raise HarnessError(f"speech audio needs {' and '.join(missing)}: run bash .ci/setup")
    target.parent.mkdir(parents=True, exist_ok=True)
    if progress is not None:
        progress(f"building {spec.minutes:g} min of speech (WAV and MP3) into {target}")
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    build.chmod(0o755)  # mkdtemp's 0700 would outlive the rename
    try:
        _build(spec, build)
        _move_into_place(build, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


def _document(spec: SpeechSpec, folder: Path | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR_VERSION,
        "spec": asdict(spec),
        "duration_s": spec.frames / spec.rate_hz,
        "decoded_bytes": spec.frames * spec.channels * 2,
    }
    if folder is not None:
        doc["files"] = {name: (folder / name).stat().st_size for name in FILES}
    return doc


def cached_folder(spec: SpeechSpec, cache_dir: Path | None = None) -> Path:
    return (cache_dir or default_cache_dir()) / spec.folder_name()


def is_built(folder: Path, spec: SpeechSpec) -> bool:
    """Whether `folder` holds `spec`'s files whole, as its audio.json records them."""
    try:
        doc = json.loads((folder / META).read_text(encoding="utf-8"))
        return isinstance(doc, dict) and doc == _document(spec, folder)
    except (OSError, ValueError):
        return False


def _build(spec: SpeechSpec, out: Path) -> None:
    with warnings.catch_warnings():
        # pydub imports audioop, deprecated since 3.11: pydub's warning, not ours.
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
    rng = random.Random(spec.seed)
    frame_bytes = spec.channels * 2
    need = spec.frames * frame_bytes
    spoken: dict[tuple[int, int], bytes] = {}
    pieces: list[bytes] = []
    size = 0
    while size < need:
        order = list(range(len(SENTENCES)))
        rng.shuffle(order)
        for index in order:
            speed = rng.choice(SPEEDS_WPM)
            if (index, speed) not in spoken:
                wav = out / "sentence.wav"
                _espeak(SENTENCES[index], speed, wav)
                with wav.open("rb") as fh:  # given a path, pydub leaves the file open
                    voice = AudioSegment.from_wav(fh)
                voice = voice.set_frame_rate(spec.rate_hz).set_channels(spec.channels)
                spoken[index, speed] = voice.set_sample_width(2).raw_data
                wav.unlink()
            pause = round(rng.randint(*PAUSE_MS) / 1000 * spec.rate_hz) * frame_bytes
            for chunk in (spoken[index, speed], bytes(pause)):
                if size + len(chunk) > need:
                    chunk = chunk[: need - size]
                pieces.append(chunk)
                size += len(chunk)
            if size >= need:
                break
    audio = AudioSegment(
        data=b"".join(pieces), sample_width=2, frame_rate=spec.rate_hz, channels=spec.channels
    )
    del pieces
    try:
        with (out / "speech.wav").open("wb") as fh:
            audio.export(fh, format="wav")
        with (out / "speech.mp3").open("wb") as fh:
            audio.export(fh, format="mp3", bitrate=f"{spec.mp3_kbps}k")
    except Exception as exc:  # pydub raises CouldntEncodeError with ffmpeg's whole log
        first = (str(exc).strip().splitlines() or [repr(exc)])[0]
        raise HarnessError(f"exporting the speech failed: {first}") from exc
    write_json(out / META, _document(spec, out))


def _espeak(sentence: str, speed: int, wav: Path) -> None:
    argv = ["espeak-ng", "-w", str(wav), "-v", "en-us", "-s", str(speed), sentence]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not wav.is_file():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(f"espeak-ng failed ({proc.returncode}): {tail}")


def _move_into_place(build: Path, target: Path) -> None:
    """A new folder is renamed in whole; into an existing one (a user's -o folder, or a
    rebuild) the files go one by one, audio.json last, so it only ever names a whole set."""
    try:
        build.rename(target)
        return
    except OSError:
        if target.exists() and not target.is_dir():
            raise HarnessError(f"{target} exists and is not a folder") from None
    (target / META).unlink(missing_ok=True)
    for name in (*FILES, META):
        os.replace(build / name, target / name)
