"""memdiag audio: make (or find in the cache) the speech the uploads scenario sends.

The folder's path is the only line on stdout, so `--audio-dir "$(memdiag audio)"` works;
what was done goes to stderr. See `profiling.run.audio`.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from profiling.errors import ExitCode, UsageError
from profiling.run.audio import SpeechSpec, default_cache_dir, ensure_speech

HELP = "make real speech audio (WAV and MP3) for the uploads scenario; print its folder"
DESCRIPTION = (
    HELP + ".\n\nespeak-ng speaks a few English sentences, pydub joins them to the length "
    "asked for (44.1 kHz stereo) and writes speech.wav, speech.mp3 (ffmpeg, 128 kb/s) and "
    "audio.json. The result is cached under $XDG_CACHE_HOME/memdiag/audio (or "
    "~/.cache/memdiag/audio) and reused; 10 minutes build in well under a minute the first "
    "time (memdiag ablate makes the 10 minutes itself). Prints the folder's path, and "
    "only that, on stdout.\n\n"
    "example: memdiag audio\n"
    'example: memdiag ablate --audio-dir "$(memdiag audio --minutes 2)"  (shorter uploads)\n'
    "example: memdiag audio --minutes 2 -o tests-audio"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="length of the speech (default 10)"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="DIR",
        help=f"write the files into DIR instead of the cache ({default_cache_dir()})",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.minutes) and args.minutes > 0):
        raise UsageError(
            f"--minutes {args.minutes:g}: the length must be a number of minutes above 0"
        )
    if args.output is not None and args.output.exists() and not args.output.is_dir():
        raise UsageError(f"--output {args.output} exists and is not a folder")
    built: list[str] = []

    def progress(line: str) -> None:
        built.append(line)
        print(f"memdiag audio: {line}", file=sys.stderr, flush=True)

    spec = SpeechSpec(minutes=args.minutes)
    folder = ensure_speech(spec, progress=progress, folder=args.output, force=args.force)
    print(f"Wrote {folder}" if built else f"memdiag audio: up to date: {folder}", file=sys.stderr)
    print(folder)
    return ExitCode.OK
