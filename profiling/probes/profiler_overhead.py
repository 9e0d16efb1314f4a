"""Benchmark: status-poll throughput of the reference server with and without profilers.

    python -m profiling.probes.profiler_overhead --mongo-uri URI --mode db-polling \\
        --duration-s 15 --repeats 2 --json overhead.json

For each repeat, in interleaved order (plain, tracemalloc, memray, memray with
--trace-python-allocators), it starts `python -m reference_server` on a fresh database,
finishes one synthetic task, polls it back to back for `--duration-s` and records
polls/s. The ratio to the plain run in the same repeat is the profiler's cost. It
starts the server through its entry point only; it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from profiling.artefacts import write_json
from profiling.errors import ExitCode, HarnessError
from profiling.probes import pollbench
from profiling.probes.memray_capture import MemrayOptions, memray_command, memray_env

SCHEMA_VERSION = 1
VARIANTS = ("plain", "tracemalloc", "memray", "memray-pyalloc")


def _command(
    variant: str, args: list[str], tmp: Path, frames: int
) -> tuple[list[str], dict[str, str]]:
    if variant == "plain":
        return [sys.executable, *args], dict(os.environ)
    if variant == "tracemalloc":
        return [sys.executable, *args, "--tracemalloc-frames", str(frames)], dict(os.environ)
    opts = MemrayOptions(trace_python_allocators=variant == "memray-pyalloc")
    return memray_command(args, tmp / f"{variant}.bin", opts), memray_env(opts)


def run_variant(
    variant: str, mongo_uri: str, mode: str, duration_s: float, segments: int, frames: int
) -> float:
    args = ["-m", "reference_server", "--mode", mode, "--port", "0", "--mongo-uri", mongo_uri]
    args += ["--database", "bench_" + uuid.uuid4().hex[:10]]
    with tempfile.TemporaryDirectory() as tmp:
        cmd, env = _command(variant, args, Path(tmp), frames)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            if not url.startswith("http://"):
                raise HarnessError(f"{variant}: server did not start ({' '.join(cmd)})")
            token, task_id = pollbench.prepare_task(url, segments=segments)
            pollbench.poll(url, token, task_id, count=2)  # warm
            return pollbench.poll(url, token, task_id, duration_s=duration_s).polls_per_s
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m profiling.probes.profiler_overhead",
        description="Status-poll throughput with no profiler, tracemalloc and memray.",
    )
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument("--mode", default="db-polling")
    parser.add_argument("--duration-s", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--tracemalloc-frames", type=int, default=25)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown or "plain" not in variants:
        print(f"profiler_overhead: --variants must include plain, from {VARIANTS}", file=sys.stderr)
        return ExitCode.USAGE
    rates: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for rep in range(args.repeats):
            for variant in variants:
                rate = run_variant(
                    variant, args.mongo_uri, args.mode, args.duration_s, args.segments,
                    args.tracemalloc_frames,
                )  # fmt: skip
                rates[variant].append(rate)
                print(f"repeat {rep + 1} {variant:>15}: {rate:.2f} polls/s", flush=True)
    except HarnessError as exc:
        print(f"profiler_overhead: {exc}", file=sys.stderr)
        return exc.exit_code
    plain = statistics.median(rates["plain"])
    summary = {
        v: {
            "polls_per_s": rates[v],
            "median_polls_per_s": statistics.median(rates[v]),
            "throughput_vs_plain": round(statistics.median(rates[v]) / plain, 3) if plain else None,
        }
        for v in variants
    }
    for v, row in summary.items():
        print(
            f"{v:>15}: median {row['median_polls_per_s']:.2f} polls/s, "
            f"x{row['throughput_vs_plain']} of plain"
        )
    if args.json:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "mode": args.mode,
            "duration_s": args.duration_s,
            "segments": args.segments,
            "tracemalloc_frames": args.tracemalloc_frames,
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
            "variants": summary,
        }
        write_json(args.json, doc)
        print(f"Wrote {args.json}")
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
