"""Benchmark: what the sampler costs, in % of one core, at given rates.

    python -m profiling.probes.overhead --hz 2,10 --duration-s 20 --targets 3

Starts `--targets` idle Python processes (stand-ins for server, db and load generator;
what they do does not change the cost of reading their /proc files), samples them at
each rate for `--duration-s`, and reports the sampling thread's own CPU time
(`time.thread_time`) and this whole process's CPU time over the wall time. With
`--pid PID` it samples existing processes instead. The figures vary with the machine;
this is a benchmark to run, not a test to assert.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from profiling.artefacts import write_json
from profiling.errors import ExitCode
from profiling.probes.sampler import Sampler, Target

SCHEMA_VERSION = 1


def measure(pids: Sequence[int], hz: float, duration_s: float, *, detail: bool) -> dict[str, float]:
    targets = [Target(f"p{i}", pid) for i, pid in enumerate(pids)]
    with tempfile.TemporaryDirectory() as tmp:
        proc_cpu0 = time.process_time()
        wall0 = time.monotonic()
        with Sampler(targets, Path(tmp) / "rss.csv", interval_s=1 / hz, detail=detail) as s:
            time.sleep(duration_s)
        wall = time.monotonic() - wall0
        proc_cpu = time.process_time() - proc_cpu0
    return {
        "hz": hz,
        "targets": len(pids),
        "detail": detail,
        "wall_s": round(wall, 3),
        "ticks": s.ticks,
        "achieved_hz": round(s.ticks / wall, 3),
        "sampler_thread_cpu_percent": round(s.self_cpu_s / wall * 100, 4),
        "process_cpu_percent": round(proc_cpu / wall * 100, 4),
        "cpu_us_per_tick": round(s.self_cpu_s / max(s.ticks, 1) * 1e6, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m profiling.probes.overhead",
        description="Measure the memory sampler's CPU cost at given rates.",
    )
    parser.add_argument("--hz", default="2,10", help="comma-separated rates (default 2,10)")
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--targets", type=int, default=3, help="idle processes to sample")
    parser.add_argument("--pid", type=int, action="append", default=[], help="sample these")
    parser.add_argument("--detail", action="store_true", help="also read USS/PSS")
    parser.add_argument("--json", type=Path, help="write results here")
    try:
        args = parser.parse_args(argv)
        rates = [float(x) for x in args.hz.split(",")]
    except SystemExit as exc:
        return int(exc.code or 0)
    except ValueError:
        print(f"overhead: --hz {args.hz!r} is not a list of numbers, e.g. 2,10", file=sys.stderr)
        return ExitCode.USAGE
    idle: list[subprocess.Popen[bytes]] = []
    if not args.pid:
        code = "import sys; sys.stdin.read()"
        idle = [
            subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
            for _ in range(args.targets)
        ]
    pids = args.pid or [p.pid for p in idle]
    try:
        results = [measure(pids, hz, args.duration_s, detail=args.detail) for hz in rates]
    finally:
        for p in idle:
            p.communicate(b"")
    for r in results:
        print(
            f"{r['hz']:>5} Hz x {r['targets']} targets: sampler thread "
            f"{r['sampler_thread_cpu_percent']:.3f} % of a core "
            f"({r['cpu_us_per_tick']:.0f} us/tick, {r['achieved_hz']:.2f} Hz achieved); "
            f"whole process {r['process_cpu_percent']:.3f} %"
        )
    if args.json:
        doc = {"schema_version": SCHEMA_VERSION, "cpus": os.cpu_count(), "results": results}
        write_json(args.json, doc)
        print(f"Wrote {args.json}")
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
