"""Probe test app: on each stdin line, allocate a 300 MiB buffer, touch it, free it.

Prints `ready` once started and `spiked <ms>` after each spike, with how long the
buffer lived. The buffer is written, not just reserved, so its pages count in RSS.
"""

import sys
import time

MIB = 1024 * 1024
SIZE_BYTES = 300 * MIB


def main() -> int:
    print("ready", flush=True)
    for _line in sys.stdin:
        t0 = time.monotonic()
        buf = bytearray(b"\x01") * SIZE_BYTES  # repetition writes every page
        del buf  # a buffer this large is its own mmap: freeing unmaps it at once
        print(f"spiked {(time.monotonic() - t0) * 1000:.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
