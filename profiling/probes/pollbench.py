"""A small closed-loop status-poll driver, for probe overhead figures and attribution runs.

    token, task_id = prepare_task(url, segments=200, words_per_segment=20)
    result = poll(url, token, task_id, duration_s=10, concurrency=2)   # polls/s

This is not the load generator (that is Locust, in loadtests/, with an open model):
it answers "how many status polls per second does this server manage with this
profiler attached" and drives a repeatable workload for memray/tracemalloc runs.
HTTP only, stdlib only, keep-alive connection per thread.

    python -m profiling.probes.pollbench URL --duration-s 10 --concurrency 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from profiling.artefacts import dumps
from profiling.errors import ExitCode, HarnessError

SCHEMA_VERSION = 1
DONE = ("completed", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class PollResult:
    polls: int
    errors: int
    duration_s: float
    polls_per_s: float
    response_bytes: int


class _Conn:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise HarnessError(f"not an http:// base URL: {base_url!r}")
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()  # reconnect on the next call
            raise HarnessError(f"{method} {path}: {exc}") from exc

    def close(self) -> None:
        self.conn.close()


def prepare_task(
    base_url: str,
    *,
    segments: int = 200,
    segments_per_second: float = 200.0,
    words_per_segment: int = 20,
    seed: int = 1,
    timeout_s: float = 300.0,
) -> tuple[str, str]:
    """Create a user and a synthetic task, wait until it finishes; (token, task_id)."""
    conn = _Conn(base_url, timeout_s=60)
    try:
        status, body = conn.call("POST", "/api/users", {"name": "pollbench"})
        if status != 201:
            raise HarnessError(f"POST /api/users answered {status}: {body[:200]!r}")
        token = str(json.loads(body)["token"])
        spec = {
            "segments": segments,
            "segments_per_second": segments_per_second,
            "words_per_segment": words_per_segment,
            "seed": seed,
        }
        status, body = conn.call("POST", "/api/tasks", {"synthetic": spec}, token)
        if status != 202:
            raise HarnessError(f"POST /api/tasks answered {status}: {body[:200]!r}")
        task_id = str(json.loads(body)["task_id"])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, body = conn.call("GET", f"/api/tasks/{task_id}", token=token)
            if status == 200 and json.loads(body)["status"] in DONE:
                return token, task_id
            time.sleep(0.25)
        raise HarnessError(f"task {task_id} did not finish within {timeout_s} s")
    finally:
        conn.close()


def poll(
    base_url: str,
    token: str,
    task_id: str,
    *,
    count: int | None = None,
    duration_s: float | None = None,
    concurrency: int = 1,
) -> PollResult:
    """Poll the task back to back from `concurrency` threads, for `count` polls in total
    or for `duration_s` seconds."""
    if (count is None) == (duration_s is None):
        raise ValueError("give exactly one of count and duration_s")
    lock = threading.Lock()
    tally = {"polls": 0, "errors": 0, "bytes": 0, "issued": 0}
    start = time.monotonic()
    stop_at = start + duration_s if duration_s is not None else None

    def worker() -> None:
        conn = _Conn(base_url, timeout_s=120)
        try:
            while True:
                with lock:
                    if count is not None and tally["issued"] >= count:
                        return
                    tally["issued"] += 1
                if stop_at is not None and time.monotonic() >= stop_at:
                    return
                try:
                    status, body = conn.call("GET", f"/api/tasks/{task_id}", token=token)
                    ok = status == 200
                except HarnessError:
                    ok, body = False, b""
                with lock:
                    tally["polls" if ok else "errors"] += 1
                    tally["bytes"] += len(body)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    return PollResult(
        polls=tally["polls"],
        errors=tally["errors"],
        duration_s=round(elapsed, 3),
        polls_per_s=round(tally["polls"] / elapsed, 3) if elapsed > 0 else 0.0,
        response_bytes=tally["bytes"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m profiling.probes.pollbench",
        description="Closed-loop status-poll throughput of a running reference server.",
    )
    parser.add_argument("url", help="server base URL, e.g. http://127.0.0.1:8080/")
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--words-per-segment", type=int, default=20)
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=1)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        token, task_id = prepare_task(
            args.url, segments=args.segments, words_per_segment=args.words_per_segment
        )
        result = poll(
            args.url, token, task_id, duration_s=args.duration_s, concurrency=args.concurrency
        )
    except HarnessError as exc:
        print(f"pollbench: {exc}", file=sys.stderr)
        return exc.exit_code
    doc = {"schema_version": SCHEMA_VERSION, **asdict(result)}
    print(dumps(doc), end="")
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
