"""How close lean's status poll comes to aiohttp's own cost: the requests per second lean's
`GET /api/tasks/{id}` serves, against a trivial aiohttp handler's on the same machine.

python -m profiling.benchmarks.lean_poll_rate [--rounds 2] [--duration-s 8]
    [--connections 20] [--threads 1] [--client auto|wrk|python] [--mongo-uri URI]

Starts the embedded DB (or uses --mongo-uri), a lean reference server with
`segment_storage=chunks`, and a trivial aiohttp app (profiling.benchmarks.trivial_app)
in separate processes on this machine. It creates one 20,000-segment synthetic task
that starts with 19,800 of them and trickles the rest at 1 segment/s, so it holds
nearly all its segments and stays live for the whole benchmark; once those are
written to the DB (one checkpoint, minutes on FerretDB) it drives, in
interleaved rounds (lean, trivial, lean, trivial ...), a closed-loop load of N
connections for a fixed time at the task's status poll and at the trivial handler.
It prints each run's rate, the medians, their ratio (lean / trivial; 0.8 or more means
lean's status path adds little to aiohttp's own request handling) and the load
average, which matters on a shared machine. It also prints
each server's CPU time per request (from /proc): when the machine is shared the rate
swings with the neighbours' load, CPU per request much less, so the CPU ratio is the
steadier figure for telling what a change to the status path bought.
--profile-out DIR adds one unmeasured lean run sampled with py-spy and writes the
collapsed stacks and the costliest functions (self and inclusive) there.

Also checked: every poll answered 200, the task was still live at the end, and the
server's `memdiag_status_polls_total` grew by at least the polls the client counted
(it may be ahead by the requests in flight when the client stopped). A failed check is
a harness error (exit 3). Figures are for notes and the docs, never asserted in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from profiling.benchmarks import sampling
from profiling.benchmarks.closed_loop import LoadResult, have_wrk, run_ours, run_wrk
from profiling.errors import HarnessError, MemdiagError, UsageError
from profiling.probes.dbevidence import scrape
from profiling.probes.procmem import read_mem
from profiling.run.embedded_db import EmbeddedDB
from profiling.run.subprocs import first_line, terminate


def _call(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


@contextlib.contextmanager
def _child(argv: list[str], what: str) -> Iterator[tuple[str, int]]:
    """A child that prints its URL first; yields (url, pid) and stops it after."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        url = first_line(proc, 60).strip()
        if not url.startswith("http://"):
            raise HarnessError(f"{what} did not start: {' '.join(argv)}")
        yield url, proc.pid
    finally:
        terminate(proc, 20)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def _database(uri: str | None) -> Iterator[str]:
    if uri:
        yield uri
        return
    with EmbeddedDB() as db:
        yield db.uri


def _wait_until_grown(status_url: str, token: str, initial: int, timeout_s: float) -> None:
    """Until the task is live past its initial segments: the worker writes those in one
    checkpoint before it emits the next, so one more segment means that write is done
    and the polls measured are the steady ones (on FerretDB it can take minutes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = _call(status_url, token=token)
        if view["status"] == "transcribing" and view["segment_count"] > initial:
            return
        if time.monotonic() > deadline or view["status"] not in ("queued", "transcribing"):
            raise HarnessError(
                f"the benchmark task did not get past {initial} segments within "
                f"{timeout_s:g} s: {view['status']}, {view['segment_count']} segments"
            )
        time.sleep(0.5)


def _drive(args: argparse.Namespace, url: str, token: str, duration_s: float) -> LoadResult:
    headers = {"Authorization": f"Bearer {token}"}
    if args.client == "wrk":
        return run_wrk(url, headers, args.connections, args.threads, duration_s)
    return run_ours(url, headers, args.connections, duration_s)


def _check(result: LoadResult, what: str) -> LoadResult:
    if result.non_2xx or result.socket_errors or result.requests == 0:
        raise HarnessError(
            f"{what}: {result.requests} replies, {result.non_2xx} not 2xx, "
            f"{result.socket_errors} socket errors; the benchmark is invalid"
        )
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    server_argv = [sys.executable, "-m", "reference_server", "--mode", "lean", "--port", "0"]
    server_argv += ["--set", "segment_storage=chunks", "--driver", args.driver]
    trivial_argv = [sys.executable, "-m", "profiling.benchmarks.trivial_app", "--port", "0"]
    with (
        _database(args.mongo_uri) as uri,
        _child([*server_argv, "--mongo-uri", uri, "--database", args.database], "server") as (
            base,
            server_pid,
        ),
        _child(trivial_argv, "trivial app") as (trivial_url, trivial_pid),
    ):
        token = _call(base + "api/users", "POST", {"name": "bench"})["token"]
        spec = {
            "segments": args.segments,
            "initial_segments": args.initial_segments,
            "segments_per_second": args.segments_per_second,
        }
        task_id = _call(base + "api/tasks", "POST", {"synthetic": spec}, token)["task_id"]
        status_url = f"{base}api/tasks/{task_id}"
        _wait_until_grown(status_url, token, args.initial_segments, args.grow_timeout_s)
        targets = {"lean": (status_url, server_pid), "trivial": (trivial_url, trivial_pid)}
        for name, (url, _) in targets.items():  # warm both: connections, caches, imports
            _check(_drive(args, url, token, args.warmup_s), f"warm-up of {name}")
        polls_before = scrape(base).status_polls
        runs: dict[str, list[LoadResult]] = {name: [] for name in targets}
        # Server CPU per request: steadier than the rate on a shared machine, and what a
        # change to the status path moves directly.
        cpu_us: dict[str, list[float]] = {name: [] for name in targets}
        for round_no in range(args.rounds):
            for name, (url, pid) in targets.items():
                cpu_before = read_mem(pid).cpu_s
                result = _check(_drive(args, url, token, args.duration_s), name)
                cpu_us[name].append((read_mem(pid).cpu_s - cpu_before) / result.requests * 1e6)
                runs[name].append(result)
                line = {"round": round_no + 1, "target": name, "rps": round(result.rps)}
                line["cpu_us_per_request"] = round(cpu_us[name][-1], 1)
                print(json.dumps(line), file=sys.stderr, flush=True)
        polls_served = scrape(base).status_polls - polls_before
        if args.profile_out is not None:
            _profile(args, server_pid, status_url, token)
        final = _call(status_url, token=token)
    counted = sum(r.requests for r in runs["lean"])
    if final["status"] != "transcribing":
        raise HarnessError(
            f"the task ended ({final['status']}) during the benchmark: lower --segments-per-second"
        )
    if polls_served < counted:
        raise HarnessError(f"the server counted {polls_served:.0f} polls, the client {counted}")
    lean = statistics.median(r.rps for r in runs["lean"])
    trivial = statistics.median(r.rps for r in runs["trivial"])
    return {
        "client": runs["lean"][0].client,
        "connections": args.connections,
        "duration_s": args.duration_s,
        "rounds": args.rounds,
        "lean_rps": [round(r.rps, 1) for r in runs["lean"]],
        "trivial_rps": [round(r.rps, 1) for r in runs["trivial"]],
        "lean_rps_median": round(lean, 1),
        "trivial_rps_median": round(trivial, 1),
        "ratio": round(lean / trivial, 3),
        "lean_cpu_us_per_request": [round(x, 1) for x in cpu_us["lean"]],
        "trivial_cpu_us_per_request": [round(x, 1) for x in cpu_us["trivial"]],
        "cpu_ratio": round(
            statistics.median(cpu_us["trivial"]) / statistics.median(cpu_us["lean"]), 3
        ),
        "polls_counted_by_client": counted,
        "polls_served_by_server": int(polls_served),
        "segment_count_at_end": final["segment_count"],
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def _profile(args: argparse.Namespace, pid: int, url: str, token: str) -> None:
    """One more lean run, unmeasured, with py-spy sampling the server; top costs printed."""
    args.profile_out.mkdir(parents=True, exist_ok=True)
    out = args.profile_out / "lean-status.collapsed.txt"
    recorder = sampling.start_record(pid, args.duration_s, out)
    time.sleep(0.5)  # py-spy attaches before the load starts
    _check(_drive(args, url, token, args.duration_s), "profiled lean run")
    sampling.finish_record(recorder, args.duration_s + 30)
    text = out.read_text()
    for by in ("self", "inclusive"):
        total, rows = sampling.top_functions(text, 25, by=by)
        (args.profile_out / f"top-{by}.md").write_text(sampling.render_top(total, rows) + "\n")
        print(f"Wrote {args.profile_out / f'top-{by}.md'}", file=sys.stderr)
    print(f"Wrote {out}", file=sys.stderr)


def _table(row: dict[str, Any]) -> str:
    lines = [
        "| round | lean req/s | trivial req/s | ratio | lean CPU µs/req | trivial CPU µs/req |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    columns = zip(
        row["lean_rps"],
        row["trivial_rps"],
        row["lean_cpu_us_per_request"],
        row["trivial_cpu_us_per_request"],
        strict=True,
    )
    for i, (lean, trivial, lean_cpu, trivial_cpu) in enumerate(columns):
        lines.append(
            f"| {i + 1} | {lean:,.0f} | {trivial:,.0f} | {lean / trivial:.2f} "
            f"| {lean_cpu:.1f} | {trivial_cpu:.1f} |"
        )
    lines.append(
        f"| median | {row['lean_rps_median']:,.0f} | {row['trivial_rps_median']:,.0f} "
        f"| {row['ratio']:.2f} | {statistics.median(row['lean_cpu_us_per_request']):.1f} "
        f"| {statistics.median(row['trivial_cpu_us_per_request']):.1f} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (lean, trivial)")
    p.add_argument("--duration-s", type=float, default=8.0, help="length of each run")
    p.add_argument("--warmup-s", type=float, default=2.0, help="unmeasured run of each first")
    p.add_argument("--connections", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--segments", type=int, default=20000, help="the task's size")
    p.add_argument(
        "--initial-segments",
        type=int,
        default=19800,
        help="segments the task starts with (the rest trickle in)",
    )
    p.add_argument(
        "--segments-per-second",
        type=float,
        default=1.0,
        help="the trickle's pace: slow, so the task stays live (200 s by default)",
    )
    p.add_argument(
        "--grow-timeout-s",
        type=float,
        default=600.0,
        help="longest wait for the initial segments to be written",
    )
    p.add_argument("--driver", default="motor", choices=("motor", "pymongo-async"))
    p.add_argument("--mongo-uri", help="a running MongoDB server (default: start the embedded)")
    p.add_argument(
        "--profile-out",
        type=Path,
        help="after the rounds, sample one more lean run with py-spy; write stacks and tops here",
    )
    p.add_argument("--database", default=f"bench_poll_rate_{os.getpid()}")
    args = p.parse_args(argv)
    try:
        if args.rounds < 1 or args.duration_s <= 0 or args.connections < 1:
            raise UsageError("--rounds and --connections must be >= 1, --duration-s > 0")
        if not 0 <= args.initial_segments < args.segments:
            raise UsageError("--initial-segments must be from 0 to --segments minus 1")
        if args.client == "auto":
            args.client = "wrk" if have_wrk() else "python"
        elif args.client == "wrk" and not have_wrk():
            raise UsageError("--client wrk: wrk is not installed (apt-get install wrk)")
        row = run(args)
    except MemdiagError as exc:
        print(f"lean_poll_rate: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(row, sort_keys=True))
    print(_table(row))
    print(
        f"ratio lean/trivial: {row['ratio']:.2f} (by CPU per request: {row['cpu_ratio']:.2f}; "
        f"{row['client']}, {args.connections} "
        f"connections, {args.duration_s:g} s x {args.rounds} rounds; load average "
        f"{' '.join(map(str, row['loadavg_before']))})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
