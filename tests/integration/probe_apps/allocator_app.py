"""A tiny server for the agent's tests: it allocates what it is told on stdin and keeps it.

Each stdin line is a command; the app answers `ok <time.time()>` on stdout when done:

    small MIB   keep MIB of small bytes objects (pymalloc blocks) alive
    big MIB     keep MIB of 1 MiB bytes objects (mmapped by malloc) alive
    fork        fork a child that sleeps (the agent re-arms in it); answers its pid
    fork-locked the same, with a lock of the standard library held at the fork, as another
                thread of a real server may hold one (tempfile's, before its first use)
    quit        exit
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

MIB = 1 << 20
SMALL = 320  # bytes of payload: well under pymalloc's 512-byte limit with the header

kept: list[object] = []


def main() -> int:
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "small":
            block = sys.getsizeof(b"x" * SMALL)
            # Each object is written (not calloc'ed), so its pages are resident.
            kept.append([b"%d" % i + b"x" * (SMALL - 8) for i in range(int(arg) * MIB // block)])
        elif command == "big":
            kept.append([bytes([i % 251]) * MIB for i in range(int(arg))])
        elif command in ("fork", "fork-locked"):
            if command == "fork-locked":
                # What a thread that is inside tempfile's first gettempdir() holds: the
                # child inherits the lock held and the temp folder still unknown.
                tempfile.tempdir = None
                tempfile._once_lock.acquire()  # type: ignore[attr-defined]
            pid = os.fork()
            if command == "fork-locked" and pid != 0:
                tempfile._once_lock.release()  # type: ignore[attr-defined]
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            print(f"ok {time.time()} {pid}", flush=True)
            continue
        elif command == "quit":
            return 0
        print(f"ok {time.time()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
