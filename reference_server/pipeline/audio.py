"""Upload -> 16 kHz mono WAV, the first stage of every real task.

Two ways, so a run can show what the original's choice costs in memory:

- ``pydub`` is the original: ``AudioSegment.from_file`` decodes the whole file into a
  Python ``bytes`` object, resampling and down-mixing each build another full copy, and
  ``export`` writes the WAV. With ``gc_after`` the segment is deleted and ``gc.collect()``
  runs afterwards (change 5 of the incident). The server's peak RSS grows with the length
  of the audio whatever ``gc.collect()`` does afterwards: the peak has already happened.
- ``ffmpeg`` streams: one ffmpeg child process reads the upload and writes the WAV, so the
  decoded audio never enters the server process. Its memory belongs to the child.

Both return the duration in seconds of the WAV written and raise ``EngineError`` with a
one-line reason on undecodable input or a missing ffmpeg.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import subprocess
import threading
import warnings
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reference_server.pipeline.engines.base import EngineError

TARGET_RATE_HZ = 16_000
CONVERT_METHODS: tuple[str, ...] = ("pydub", "ffmpeg")

_FFMPEG_HINT = "install it (Debian: apt-get install ffmpeg) and make sure it is on PATH"


def convert_to_wav(
    src: Path,
    dst: Path,
    *,
    method: str = "pydub",
    gc_after: bool = True,
    register: Callable[[subprocess.Popen[bytes]], None] | None = None,
    timeout_s: float | None = None,
    hold: list[Any] | None = None,
) -> float:
    """Write ``src`` as a 16 kHz mono 16-bit WAV at ``dst``; return its duration in seconds.

    ``register`` (ffmpeg method only) receives the child process as soon as it starts, so
    a cancel can kill it; ``timeout_s`` bounds the child's run time. ``hold`` (pydub, with
    ``gc_after`` off) receives the decoded ``AudioSegment``: in the original it was a local
    of the worker function and stayed alive until the task ended, which is what ``del
    audio`` fixed; a caller that keeps ``hold`` until the task ends reproduces that.
    Without it the segment dies when this function returns, and ``gc_after`` changes
    nothing measurable (an ``AudioSegment`` holds no reference cycle).
    """
    if method not in CONVERT_METHODS:
        raise EngineError(
            f"unknown conversion method {method!r}; choose one of {', '.join(CONVERT_METHODS)}"
        )
    if not src.is_file():
        raise EngineError(f"audio file not found: {src}")
    if shutil.which("ffmpeg") is None:
        # pydub needs it too, for anything but plain WAV; fail the same way in both.
        raise EngineError(f"audio conversion needs ffmpeg: {_FFMPEG_HINT}")
    if method == "pydub":
        return _convert_pydub(src, dst, gc_after=gc_after, hold=hold)
    return _convert_ffmpeg(src, dst, register=register, timeout_s=timeout_s)


_pydub_lock = threading.Lock()
_pydub_segment: Any = None


def _load_pydub() -> Any:
    global _pydub_segment
    # pydub imports the stdlib audioop module, deprecated since 3.11 (PEP 594): the
    # DeprecationWarning is pydub's to fix, not a reason to fail a task or a strict test run.
    # catch_warnings() swaps process-wide state, so do it once, under a lock.
    with _pydub_lock:
        if _pydub_segment is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from pydub import AudioSegment
            _pydub_segment = AudioSegment
    return _pydub_segment


def _convert_pydub(src: Path, dst: Path, *, gc_after: bool, hold: list[Any] | None) -> float:
    audio_segment = _load_pydub()
    try:
        if src.suffix.lower() == ".wav":
            # Same decode as from_file(path) (pydub parses WAV itself), but through a file
            # we close: given a path, pydub leaves the WAV's handle open.
            with src.open("rb") as fh:
                audio = audio_segment.from_file(fh, format="wav")
        else:
            # A path, as the original: ffmpeg reads the file; pydub holds its decoded output.
            audio = audio_segment.from_file(str(src))
    except Exception as exc:  # pydub raises CouldntDecodeError, wave/struct errors, ...
        raise EngineError(f"could not decode audio {src.name}: {_one_line(exc)}") from exc
    try:
        audio = audio.set_frame_rate(TARGET_RATE_HZ).set_channels(1).set_sample_width(2)
        duration_s = len(audio) / 1000.0
        with dst.open("wb") as out:
            audio.export(out, format="wav")
    except Exception as exc:
        raise EngineError(f"could not convert audio {src.name}: {_one_line(exc)}") from exc
    finally:
        if gc_after:
            # The incident's change 5, kept switchable so its effect can be measured alone.
            del audio
            gc.collect()
        elif hold is not None:
            hold.append(audio)
    if duration_s <= 0:
        raise EngineError(f"audio {src.name} contains no samples")
    return duration_s


def _convert_ffmpeg(
    src: Path,
    dst: Path,
    *,
    register: Callable[[subprocess.Popen[bytes]], None] | None,
    timeout_s: float | None,
) -> float:
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(src),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(TARGET_RATE_HZ),
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
        str(dst),
    ]
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise EngineError(f"could not start ffmpeg: {exc}; {_FFMPEG_HINT}") from exc
    if register is not None:
        register(proc)
    try:
        # stderr is small (loglevel error), so communicate() cannot hold much memory.
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise EngineError(f"ffmpeg did not finish converting {src.name} in {timeout_s} s") from None
    if proc.returncode != 0:
        if proc.returncode < 0:
            reason = f"ffmpeg was killed by signal {-proc.returncode}"
        else:
            reason = _last_line(err) or f"ffmpeg exited with code {proc.returncode}"
        with contextlib.suppress(OSError):
            dst.unlink()
        raise EngineError(f"could not decode audio {src.name}: {reason}")
    return _wav_duration_s(dst, src_name=src.name)


def _wav_duration_s(path: Path, *, src_name: str) -> float:
    try:
        with wave.open(str(path), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise EngineError(f"could not read the converted audio of {src_name}: {exc}") from exc
    if frames <= 0 or rate <= 0:
        raise EngineError(f"audio {src_name} contains no samples")
    return frames / rate


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # pydub's CouldntDecodeError carries ffmpeg's whole stderr; its last line says why.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _proc_status_bytes(field: str) -> int:
    # /proc/self/status reports kB; VmHWM is the kernel's high-water mark of RSS.
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    """Convert one file in this process and print its kernel peak RSS as JSON.

    Run once per method, each in a fresh process, to compare what each costs the server.
    """
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m reference_server.pipeline.audio",
        description="Convert SRC to a 16 kHz mono WAV at DST and report this process's peak "
        "RSS (VmHWM) before and after, to compare conversion methods (one per process).",
    )
    parser.add_argument("src", type=Path, help="audio file to convert")
    parser.add_argument("dst", type=Path, help="WAV file to write")
    parser.add_argument("--method", choices=CONVERT_METHODS, default="pydub")
    parser.add_argument(
        "--no-gc-after",
        action="store_true",
        help="pydub: skip del + gc.collect() and keep the decoded audio alive, as the "
        "original did until its task ended (rss_after_bytes then shows what it carried)",
    )
    args = parser.parse_args(argv)
    _load_pydub()  # count the library itself in the baseline, not in the conversion
    before = _proc_status_bytes("VmHWM")
    held: list[Any] = []
    try:
        duration_s = convert_to_wav(
            args.src, args.dst, method=args.method, gc_after=not args.no_gc_after, hold=held
        )
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    result = {
        "schema_version": 1,
        "method": args.method,
        "gc_after": not args.no_gc_after,
        "src_bytes": args.src.stat().st_size,
        "duration_s": round(duration_s, 3),
        "peak_rss_before_bytes": before,
        "peak_rss_after_bytes": _proc_status_bytes("VmHWM"),
        "rss_after_bytes": _proc_status_bytes("VmRSS"),
        "audio_held": bool(held),
    }
    print(json.dumps(result, sort_keys=True, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
