"""The uploads scenario's speech: really spoken by espeak-ng, really encoded by ffmpeg.

Six seconds of speech, never the 10 minutes ablate uploads; pydub reads the files back.
A missing espeak-ng or ffmpeg fails these tests with the fix (`bash .ci/setup`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from profiling.cli import main
from profiling.run.audio import SCHEMA_VERSION, SpeechSpec, ensure_speech

SPEC = SpeechSpec(minutes=0.1, rate_hz=22050, channels=2, mp3_kbps=64, seed=3)


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: bash .ci/setup", pytrace=False)


def _read(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pydub imports audioop
        from pydub import AudioSegment
    with path.open("rb") as fh:  # given a path, pydub leaves the file open
        return AudioSegment.from_file(fh, format=path.suffix[1:])


def test_speech_is_built_once_per_spec(tmp_path: Path) -> None:
    lines: list[str] = []
    folder = ensure_speech(SPEC, cache_dir=tmp_path, progress=lines.append)
    assert folder.parent == tmp_path and folder.name.startswith("speech-0.1min-")
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # no temp folder left
    assert len(lines) == 1 and str(folder) in lines[0]
    for name in ("speech.wav", "speech.mp3"):
        audio = _read(folder / name)
        assert abs(len(audio) / 1000 - 6.0) <= 1.0, name
        assert (audio.frame_rate, audio.channels) == (22050, 2), name
    assert _read(folder / "speech.wav").dBFS > -40  # speech, not silence
    doc = json.loads((folder / "audio.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["spec"] == {"minutes": 0.1, "rate_hz": 22050, "channels": 2, "mp3_kbps": 64,
                           "seed": 3}  # fmt: skip
    frames = 6 * 22050
    assert doc["duration_s"] == 6.0 and doc["decoded_bytes"] == frames * 2 * 2
    assert doc["files"] == {n: (folder / n).stat().st_size for n in ("speech.wav", "speech.mp3")}

    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert ensure_speech(SPEC, cache_dir=tmp_path, progress=lines.append) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    assert len(lines) == 1  # reused: nothing built

    other = ensure_speech(SpeechSpec(minutes=0.1, rate_hz=22050, seed=4), cache_dir=tmp_path)
    assert other != folder and other.parent == tmp_path
    assert (folder / "speech.wav").read_bytes() != (other / "speech.wav").read_bytes()


def test_a_truncated_build_is_rebuilt(tmp_path: Path) -> None:
    folder = ensure_speech(SPEC, cache_dir=tmp_path)
    wav = folder / "speech.wav"
    wav.write_bytes(wav.read_bytes()[:1000])
    assert ensure_speech(SPEC, cache_dir=tmp_path) == folder
    assert abs(len(_read(wav)) / 1000 - 6.0) <= 1.0


def test_the_command_prints_only_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("kept\n", encoding="utf-8")
    argv = [sys.executable, "-m", "profiling", "audio", "--minutes", "0.05", "-o", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{out}\n"
    assert f"Wrote {out}" in proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["audio.json", "notes.txt", "speech.mp3", "speech.wav"]
    again = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert again.stdout == f"{out}\n" and "up to date" in again.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--minutes", "0"], "--minutes 0: the length must be a number of minutes above 0"),
        (["--minutes", "-1"], "--minutes -1:"),
        (["--minutes", "nan"], "--minutes nan:"),
        (["-o", "FILE"], "exists and is not a folder"),
    ],
)
def test_the_command_refuses_bad_input(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "FILE").write_text("x", encoding="utf-8")
    argv = [str(tmp_path / a) if a == "FILE" else a for a in argv]
    assert main(["audio", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and len(captured.err.splitlines()) == 1


def test_the_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audio", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--minutes" in text and "--force" in text and "memdiag audio" in text
