"""Child-process entry point for speaker diarization (started by ``diarization.py``).

Runs in its own process, as the original server ran pyannote: torch's memory, threads
and any crash stay out of the server, and a cancel can simply kill it. It loads the
pipeline from a local model directory, passes the audio as a preloaded waveform (which
keeps torchcodec's FFmpeg libraries out of the picture), and writes the speaker turns as
JSON, atomically, to ``--out``. Exit codes: 0 done, 2 usage, 3 failed (reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Any

from reference_server.pipeline.diarization import TURNS_SCHEMA_VERSION

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 2, 3


def _read_wav(path: Path) -> tuple[Any, int]:
    """(float32 tensor of shape (channels, samples), sample rate) from a PCM16 WAV."""
    import numpy as np
    import torch

    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path.name}: expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
        channels, rate = wav.getnchannels(), wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    samples = pcm.reshape(-1, channels).T.astype(np.float32) / 32768.0
    return torch.from_numpy(np.ascontiguousarray(samples)), rate


def diarize(wav: Path, model_dir: Path) -> list[dict[str, Any]]:
    from reference_server.pipeline.diarize_model import load_pipeline

    pipeline = load_pipeline(model_dir)
    waveform, rate = _read_wav(wav)
    output = pipeline({"waveform": waveform, "sample_rate": rate})
    # pyannote 4 returns DiarizeOutput; legacy pipelines return the Annotation itself.
    annotation = getattr(output, "speaker_diarization", output)
    # The last sliding window is padded past the end of the audio, and turns can run into
    # the padding: keep them inside the audio.
    duration_s = waveform.shape[-1] / rate
    turns = []
    for turn, _, speaker in annotation.itertracks(yield_label=True):
        start, end = max(0.0, float(turn.start)), min(duration_s, float(turn.end))
        if end > start:
            turns.append({"start": start, "end": end, "speaker": str(speaker)})
    return turns


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # the parent never reads a half-written file


def _exit_with_parent(parent: int, interval_s: float = 1.0) -> None:
    """End this process when the server that started it (PID ``parent``) dies.

    The child runs in its own session (so a terminal's Ctrl-C reaches only the server,
    which then kills it); the price is that nothing else would stop it if the server is
    killed outright. Re-parenting changes getppid(), which a daemon thread watches. The
    parent passes its PID: one read here could already see the new parent.
    """

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(EXIT_FAILED)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_server.pipeline.diarize_child",
        description="Diarize one WAV with a local pyannote pipeline; write turns as JSON.",
    )
    parser.add_argument("--wav", type=Path, required=True, help="16-bit PCM WAV to diarize")
    parser.add_argument("--model-dir", type=Path, required=True, help="local pipeline directory")
    parser.add_argument("--out", type=Path, required=True, help="where to write the turns JSON")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process is no longer the parent",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits; turn it into our usage code
        return EXIT_USAGE if exc.code else EXIT_OK
    if args.parent_pid is not None:
        if os.getppid() != args.parent_pid:
            return EXIT_FAILED  # the server died before this child got going
        _exit_with_parent(args.parent_pid)
    try:
        turns = diarize(args.wav, args.model_dir)
    except ImportError as exc:
        print(
            f"diarization needs: pip install '.[diarization]' ({exc})", file=sys.stderr, flush=True
        )
        return EXIT_FAILED
    except Exception as exc:  # any failure becomes the task's reason, on one line
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{type(exc).__name__}: {reason}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    _write_atomically(args.out, {"schema_version": TURNS_SCHEMA_VERSION, "turns": turns})
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
