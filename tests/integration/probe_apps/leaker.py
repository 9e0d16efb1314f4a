"""Probe test app: grow RSS at a known rate (MiB/s, argv[1]) until stdin closes.

The amount held follows wall-clock time (rate x elapsed), not a count of loop turns, so
a process delayed by a busy machine still leaks at the stated rate on average.
Rate 0 gives a flat process. Prints `ready` once its start-up is done.
"""

import sys
import threading
import time

MIB = 1024 * 1024
CHUNK_BYTES = 64 * 1024  # below the mmap threshold: kept in the heap, like real leaks


def main() -> int:
    rate_mib_per_s = float(sys.argv[1])
    held: list[bytes] = []
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print("ready", flush=True)
    t0 = time.monotonic()
    held_bytes = 0
    while not done.wait(0.05):
        target = int(rate_mib_per_s * MIB * (time.monotonic() - t0))
        while held_bytes + CHUNK_BYTES <= target:
            held.append(bytes([len(held) % 251]) * CHUNK_BYTES)  # written, so resident
            held_bytes += CHUNK_BYTES
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
