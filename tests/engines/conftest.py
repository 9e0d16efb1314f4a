"""Fixtures for the audio-pipeline tests: real audio made on the spot, never downloaded.

espeak-ng speaks a known sentence (a voice and pace faster-whisper's tiny.en model
understands); ffmpeg turns it into the 16 kHz mono WAV the engines expect. Both are Debian
packages that `.ci/run` installs; a missing one fails the test with the fix, never skips.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SENTENCE = "Memory is growing. The database is too slow."
KEY_WORDS = ("memory", "database")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {name}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def speech_key_words() -> tuple[str, ...]:
    """Words of SENTENCE that a transcription must contain."""
    return KEY_WORDS


@pytest.fixture(scope="session")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SENTENCE spoken by espeak-ng: a 22.05 kHz mono WAV of about 3 s."""
    espeak = require_tool("espeak-ng")
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(
        [espeak, "-v", "en-us", "-s", "110", "-g", "4", "-w", str(path), SENTENCE],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def speech_16k(spoken_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """(16 kHz mono WAV of SENTENCE, its duration in seconds), made by the real converter."""
    require_tool("ffmpeg")
    from reference_server.pipeline.audio import convert_to_wav

    dst = tmp_path_factory.mktemp("speech16k") / "sentence16k.wav"
    duration_s = convert_to_wav(spoken_wav, dst, method="ffmpeg")
    return dst, duration_s


@pytest.fixture(scope="session")
def random_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised pyannote pipeline directory, written by the project's own
    command in a subprocess (torch stays out of the test process)."""
    model_dir = tmp_path_factory.mktemp("diarization-model")
    proc = subprocess.run(
        [sys.executable, "-m", "reference_server.pipeline.diarize_model", str(model_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (model_dir / "pipeline.json").is_file()
    return model_dir
