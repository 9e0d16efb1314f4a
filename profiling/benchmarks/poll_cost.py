"""What one status poll costs in each design, for a large task that is still running.

python -m profiling.benchmarks.poll_cost [--segments 5000] [--polls 20] [--driver motor]

For each mode: start the embedded DB and the reference server (fresh database), create
one synthetic task of N segments, poll it once a second while it runs, then print the
status payload size, DB task reads and reply bytes per poll (from /metrics), and the
kernel peak RSS (VmHWM) and current RSS of the server and of the DB process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

from profiling.probes.dbevidence import db_evidence, scrape
from profiling.probes.procmem import read_mem
from profiling.run.embedded_db import EmbeddedDB

MODES = ("db-polling", "memory-first", "lean")
MIB = 1024 * 1024


def _call(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=120) as resp:
        return bytes(resp.read())


def measure_mode(db: EmbeddedDB, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reference_server",
            "--mode",
            mode,
            "--port",
            "0",
            "--driver",
            args.driver,
            "--mongo-uri",
            db.uri,
            "--database",
            f"bench_{mode}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        token = json.loads(_call(base + "api/users", "POST", {"name": "bench"}))["token"]
        spec = {"segments": args.segments, "segments_per_second": args.segments / args.run_s}
        task = json.loads(_call(base + "api/tasks", "POST", {"synthetic": spec}, token))
        url = base + f"api/tasks/{task['task_id']}"
        # Measure polls of a task at least half-way through; db-polling's checkpoints
        # (read the whole task, merge, write it back) may never get there: then measure
        # wherever it stands after --max-wait-s and say so in the row.
        started = time.monotonic()
        while time.monotonic() - started < args.max_wait_s:
            at_start = json.loads(_call(url, token=token))["segment_count"]
            if at_start >= args.segments // 2:
                break
            time.sleep(2.0)
        waited_s = time.monotonic() - started
        before = scrape(base)
        sizes, latencies = [], []
        for _ in range(args.polls):
            t0 = time.perf_counter()
            body = _call(url, token=token)
            latencies.append(time.perf_counter() - t0)
            sizes.append(len(body))
            time.sleep(max(0.0, 1.0 - latencies[-1]))
        view = json.loads(body)
        evidence = db_evidence(before, scrape(base))
        task_reads = sum(
            row.commands
            for row in evidence.by_command
            if row.collection == "tasks" and row.command in ("find", "getMore")
        )
        server, dbproc = read_mem(proc.pid), read_mem(db.pid)
        return {
            "mode": mode,
            "waited_s": waited_s,
            "segments_at_start": at_start,
            "status_at_end": view["status"],
            "segments_at_end": view["segment_count"],
            "payload_kib_median": sorted(sizes)[len(sizes) // 2] / 1024,
            "task_reads_per_poll": task_reads / args.polls,
            "status_reply_kib_per_poll": (evidence.status_reply_bytes_per_poll or 0.0) / 1024,
            "poll_ms_median": sorted(latencies)[len(latencies) // 2] * 1000,
            "server_peak_rss_mib": server.peak_rss_bytes / MIB,
            "server_rss_mib": server.rss_bytes / MIB,
            "db_peak_rss_mib": dbproc.peak_rss_bytes / MIB,
            "db_rss_mib": dbproc.rss_bytes / MIB,
        }
    finally:
        proc.terminate()
        proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--segments", type=int, default=5000)
    p.add_argument("--polls", type=int, default=20)
    p.add_argument("--run-s", type=float, default=120.0, help="how long the task runs")
    p.add_argument(
        "--max-wait-s",
        type=float,
        default=300.0,
        help="longest wait for the task to reach half its segments",
    )
    p.add_argument("--driver", default="motor", choices=("motor", "pymongo-async"))
    p.add_argument("--modes", default=",".join(MODES))
    args = p.parse_args(argv)
    rows = []
    for mode in args.modes.split(","):
        with EmbeddedDB() as db:  # one DB per mode: its RSS is that mode's alone
            rows.append(measure_mode(db, mode, args))
            print(json.dumps(rows[-1]), flush=True)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        print(
            "| "
            + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values())
            + " |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
