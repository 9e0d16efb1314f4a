"""Probe test app: a deterministic allocation workload for memray vs tracemalloc.

Builds about 17 MiB of small Python objects, drops half, builds a short-lived spike,
then exits. With MEMDIAG_TRACEMALLOC=1 it traces itself from its first line and prints
`tracemalloc_peak_bytes N` at the end, so the same workload can be measured both ways.
"""

import os
import tracemalloc

if os.environ.get("MEMDIAG_TRACEMALLOC") == "1":
    tracemalloc.start(1)


def build(n: int) -> list[list[str]]:
    return [[f"word-{i}-{j}" for j in range(100)] for i in range(n)]


def main() -> None:
    kept = build(1500)
    spike = build(1000)
    del spike
    kept = kept[: len(kept) // 2]
    if tracemalloc.is_tracing():
        print(f"tracemalloc_peak_bytes {tracemalloc.get_traced_memory()[1]}", flush=True)
    del kept


if __name__ == "__main__":
    main()
