"""Audio conversion: both methods write the same 16 kHz mono WAV, and fail with a reason.

Not marked `engines`: pydub is a core dependency and ffmpeg a Debian package `.ci/run`
installs, so the core suite covers conversion.
"""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from reference_server.pipeline.audio import CONVERT_METHODS, convert_to_wav
from reference_server.pipeline.engines.base import EngineError


def _wav_params(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        return wav.getnchannels(), rate, wav.getsampwidth(), wav.getnframes() / rate


@pytest.fixture(scope="module")
def spoken_mp3(spoken_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mp3") / "sentence.mp3"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(spoken_wav), str(path)],
        check=True,
    )
    return path


@pytest.mark.parametrize("method", CONVERT_METHODS)
def test_converts_wav_to_16k_mono(method: str, spoken_wav: Path, tmp_path: Path) -> None:
    src_duration_s = _wav_params(spoken_wav)[3]
    dst = tmp_path / "out.wav"
    duration_s = convert_to_wav(spoken_wav, dst, method=method)
    channels, rate, width, written_s = _wav_params(dst)
    assert (channels, rate, width) == (1, 16_000, 2)
    assert duration_s == pytest.approx(written_s, abs=0.01)
    assert duration_s == pytest.approx(src_duration_s, abs=0.05)


@pytest.mark.parametrize("gc_after", [True, False])
def test_methods_agree_on_compressed_input(
    gc_after: bool, spoken_mp3: Path, tmp_path: Path
) -> None:
    by_pydub = convert_to_wav(spoken_mp3, tmp_path / "a.wav", method="pydub", gc_after=gc_after)
    by_ffmpeg = convert_to_wav(spoken_mp3, tmp_path / "b.wav", method="ffmpeg")
    assert by_pydub > 1.0
    assert by_pydub == pytest.approx(by_ffmpeg, abs=0.05)
    assert _wav_params(tmp_path / "a.wav")[:3] == _wav_params(tmp_path / "b.wav")[:3]


@pytest.mark.parametrize("method", CONVERT_METHODS)
@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_undecodable_input_fails_with_reason(method: str, suffix: str, tmp_path: Path) -> None:
    src = tmp_path / f"garbage{suffix}"
    src.write_bytes(b"this is not audio\n" * 100)
    with pytest.raises(EngineError, match=rf"could not decode audio garbage\{suffix}: \S"):
        convert_to_wav(src, tmp_path / "out.wav", method=method)


def test_missing_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"audio file not found: .*nothing\.wav"):
        convert_to_wav(tmp_path / "nothing.wav", tmp_path / "out.wav")


@pytest.mark.parametrize("method", CONVERT_METHODS)
def test_missing_ffmpeg_says_how_to_install(
    method: str, spoken_wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a directory with no ffmpeg in it
    with pytest.raises(EngineError, match="needs ffmpeg: install it"):
        convert_to_wav(spoken_wav, tmp_path / "out.wav", method=method)


def test_unknown_method_lists_the_choices(spoken_wav: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="choose one of pydub, ffmpeg"):
        convert_to_wav(spoken_wav, tmp_path / "out.wav", method="sox")


@pytest.mark.parametrize("gc_after", [True, False])
def test_decoded_audio_is_held_only_without_gc_after(
    gc_after: bool, spoken_wav: Path, tmp_path: Path
) -> None:
    held: list[object] = []
    convert_to_wav(spoken_wav, tmp_path / "out.wav", method="pydub", gc_after=gc_after, hold=held)
    if gc_after:
        assert held == []
    else:
        assert len(held) == 1
        assert getattr(held[0], "frame_rate", None) == 16_000


def test_ffmpeg_child_is_handed_to_register(spoken_wav: Path, tmp_path: Path) -> None:
    children: list[subprocess.Popen[bytes]] = []
    convert_to_wav(spoken_wav, tmp_path / "out.wav", method="ffmpeg", register=children.append)
    assert len(children) == 1
    assert children[0].returncode == 0
    assert children[0].args[0] == "ffmpeg"


@pytest.mark.parametrize("method", CONVERT_METHODS)
def test_measuring_command_reports_peak_rss(method: str, spoken_wav: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_server.pipeline.audio",
            "--method",
            method,
            str(spoken_wav),
            str(tmp_path / "out.wav"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["schema_version"] == 1
    assert report["method"] == method
    assert report["duration_s"] > 1.0
    assert report["peak_rss_after_bytes"] >= report["peak_rss_before_bytes"] > 0


def test_measuring_command_fails_with_exit_3_on_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "garbage.mp3"
    src.write_bytes(b"not audio")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_server.pipeline.audio",
            str(src),
            str(tmp_path / "out.wav"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert "could not decode audio garbage.mp3" in proc.stderr
