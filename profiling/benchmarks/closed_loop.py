"""Closed-loop HTTP drivers: wrk when installed, else an asyncio one of ours.

python -m profiling.benchmarks.closed_loop URL [--connections 20] [--duration-s 8]
    [--header "Authorization: Bearer T"]

Closed loop: each of N connections sends its next request as soon as the last reply
is read, for a fixed time, so the rate measured is the most the server sustains. wrk
(Debian package `wrk`) is the reference; run as a module, this file is the stand-in
for machines without it (an aiohttp client in its own process; being Python itself,
it saturates sooner than wrk, so its ratios are only comparable with its own). Both
count replies that were not 2xx separately: a benchmark whose polls failed is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import aiohttp

from profiling.errors import HarnessError


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int  # replies read, any status
    non_2xx: int
    socket_errors: int
    duration_s: float
    client: str

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_wrk(text: str) -> LoadResult:
    """wrk's summary -> LoadResult; HarnessError when the summary is not there."""
    total = _WRK_TOTAL.search(text)
    if total is None:
        raise HarnessError(f"wrk printed no summary: {text.strip()[-300:]!r}")
    non_2xx = _WRK_NON2XX.search(text)
    socket = _WRK_SOCKET.search(text)
    return LoadResult(
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in socket.groups()) if socket else 0,
        duration_s=float(total.group(2)) * _UNIT_S[total.group(3)],
        client="wrk",
    )


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, headers: dict[str, str], connections: int, threads: int, duration_s: float
) -> LoadResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if done.returncode != 0:
        raise HarnessError(f"wrk exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return parse_wrk(done.stdout)


def run_ours(url: str, headers: dict[str, str], connections: int, duration_s: float) -> LoadResult:
    """This module's own driver in a separate process (so it does not share our core)."""
    argv = [sys.executable, "-m", "profiling.benchmarks.closed_loop", url]
    argv += ["--connections", str(connections), "--duration-s", str(duration_s)]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    if done.returncode != 0:
        raise HarnessError(f"closed-loop driver exited {done.returncode}: {done.stderr[-300:]}")
    row = json.loads(done.stdout)
    return LoadResult(**row)


async def _drive(
    url: str, headers: dict[str, str], connections: int, duration_s: float
) -> LoadResult:
    counts = {"requests": 0, "non_2xx": 0, "socket_errors": 0}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        deadline = started + duration_s

        async def connection() -> None:
            while time.perf_counter() < deadline:
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        counts["requests"] += 1
                        if not 200 <= resp.status < 300:
                            counts["non_2xx"] += 1
                except aiohttp.ClientError:
                    counts["socket_errors"] += 1

        await asyncio.gather(*(connection() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return LoadResult(duration_s=elapsed, client="python", **counts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=20)
    p.add_argument("--duration-s", type=float, default=8.0)
    p.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    args = p.parse_args(argv)
    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            p.error(f"--header must look like 'Name: value', got {item!r}")
        headers[name.strip()] = value.strip()
    if args.connections < 1 or args.duration_s <= 0:
        p.error("--connections must be >= 1 and --duration-s > 0")
    result = asyncio.run(_drive(args.url, headers, args.connections, args.duration_s))
    print(json.dumps({name: getattr(result, name) for name in LoadResult.__slots__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
