"""A stand-in diarization child for synthetic tasks: a real process that works for a while
and prints speaker turns as JSON, so cancel/kill paths run without pyannote.

python -m reference_server.pipeline.synthetic_diarize --duration 120 --work-seconds 1.5
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--duration", type=float, required=True, help="audio length in seconds")
    p.add_argument("--work-seconds", type=float, default=1.0, help="how long to 'compute'")
    p.add_argument("--turn-seconds", type=float, default=5.0)
    args = p.parse_args(argv)
    deadline = time.monotonic() + args.work_seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    turns, start, speaker = [], 0.0, 0
    while start < args.duration:
        end = min(args.duration, start + args.turn_seconds)
        turns.append({"start": start, "end": end, "speaker": f"SPEAKER_{speaker:02d}"})
        start, speaker = end, (speaker + 1) % 2
    json.dump(turns, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
