"""Soak: many pollers and a steady stream of live tasks for minutes, per design.

    python -m profiling.benchmarks.soak [--modes lean,memory-first,db-polling]
        [--lean-minutes 10] [--other-minutes 2] [--pollers 500] [--tasks 20] [-o DIR]

For each mode: a fresh embedded DB and reference server, then the `soak` scenario
(loadtests.runner.run_load: frontend tabs that each create a task and poll it to its
end, plus dashboards listing tasks, 4:1). `--tasks` tabs keep that many tasks live at
once; `--pollers` is the total poll rate per second, the load of that many open tabs
polling once a second. When the load stops, the tasks still running are let finish,
then every task in the DB is checked: completed, with exactly the segments it was
asked for, stored where the design stores them. Reported per mode: tasks created and
lost, wrong segment counts, HTTP 5xx answers, polls served and their p99, and the
server's RSS at the ends of the steady phase and its growth (fitted slope, MiB/min).

Exit 0 when every mode had 0 lost tasks, 0 wrong counts and 0 5xx; 1 otherwise; 2 on
bad arguments; 3 when the DB, server or load could not run. Not part of CI (the core
suite runs a 20-second lean version, tests/e2e/test_soak.py).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pymongo

from loadtests.results import LoadResult
from loadtests.runner import LoadSpec, run_load
from profiling.artefacts import write_json
from profiling.errors import HarnessError
from profiling.probes.sampler import Sampler, Target
from profiling.results import figures
from profiling.run.embedded_db import EmbeddedDB
from profiling.run.subprocs import first_line, terminate

MODES = ("lean", "memory-first", "db-polling")
ACTIVE = ("queued", "converting", "transcribing", "diarizing")
STATUS = "GET /api/tasks/{id}"
CREATE = "POST /api/tasks"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SoakPlan:
    duration_s: float
    pollers: int = 500  # polls per second in total
    tasks: int = 20  # tabs, each with one live task at a time
    segments: int = 200
    segments_per_second: float = 20.0
    words_per_segment: int = 4
    list_rate: float = 1.0
    warmup_s: float = 10.0
    driver: str = "motor"
    drain_s: float = 300.0  # FerretDB's SQLite serializes the checkpoints of many tasks


@dataclass(frozen=True, slots=True)
class SoakResult:
    mode: str
    duration_s: float
    tasks_created: int
    tasks_in_db: int
    tasks_lost: int
    not_completed: dict[str, str]  # task id -> "status: error"
    wrong_segment_counts: int
    http_5xx: int
    failures_by_name: dict[str, int]
    polls: int
    polls_per_s: float
    status_p99_ms: float
    rss_steady_start_mib: float | None
    rss_steady_end_mib: float | None
    rss_growth_mib_per_min: float | None

    @property
    def passed(self) -> bool:
        return self.tasks_lost == 0 and self.wrong_segment_counts == 0 and self.http_5xx == 0


def _stored_ids(db: Any, doc: dict[str, Any]) -> list[int]:
    if "chunk_size" in doc:  # lean's chunk documents, "<task>:<n>"
        count = -(-int(doc.get("segment_count", 0)) // int(doc["chunk_size"]))
        chunks = [db.segment_chunks.find_one({"_id": f"{doc['_id']}:{i}"}) for i in range(count)]
        return [s["id"] for c in chunks if c for s in c["segments"]]
    # One task at a time: a batch of whole documents passes the wire's message limit.
    full = db.tasks.find_one({"_id": doc["_id"]}, {"segments.id": 1}) or {}
    return [s["id"] for s in full.get("segments") or []]


def check_tasks(uri: str, database: str, plan: SoakPlan) -> tuple[int, dict[str, str], int]:
    """(tasks in the DB, {task: status and error} of those not completed, completed
    with wrong segments) after the tasks still running have had `drain_s` to end."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=10_000
    )
    with client:
        db = client[database]
        deadline = time.monotonic() + plan.drain_s
        while time.monotonic() < deadline:
            running = db.tasks.find({"status": {"$in": list(ACTIVE)}}, {"_id": 1}).to_list()
            if not running:
                break
            time.sleep(1.0)
        docs = list(db.tasks.find({}, {"segments": 0}))
        unfinished = {
            d["_id"]: f"{d.get('status')}: {d.get('error')}"
            for d in docs
            if d.get("status") != "completed"
        }
        wrong = 0
        for d in docs:
            if d.get("status") != "completed":
                continue
            want = int(d["source"]["params"]["segments"])
            if d.get("segment_count") != want or _stored_ids(db, d) != list(range(want)):
                wrong += 1
    return len(docs), unfinished, wrong


def _http_5xx(result: LoadResult) -> int:
    return sum(
        n for k, n in result.total.failures_by_name.items() if re.fullmatch(r"http 5\d\d", k)
    )


def soak_mode(mode: str, plan: SoakPlan, out_dir: Path) -> SoakResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    database = "soak"
    with EmbeddedDB() as db:
        argv = [
            sys.executable, "-m", "reference_server", "--mode", mode, "--port", "0",
            "--mongo-uri", db.uri, "--database", database, "--driver", plan.driver,
            "--workers", str(plan.tasks + 4),
        ]  # fmt: skip
        log = (out_dir / "server.log").open("w")
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            url = first_line(server, 60).strip()
            if not url.startswith("http://"):
                raise HarnessError(f"{mode}: the server did not start; see {out_dir}/server.log")
            sampler = Sampler(
                [Target("server", server.pid), Target("db", db.pid)],
                out_dir / "rss.csv",
                interval_s=1.0,
            )
            sampler.start()
            sampler.set_phase("warmup")
            spec = LoadSpec(
                host=url.rstrip("/"),
                scenario="soak",
                users=plan.tasks + max(1, plan.tasks // 4),
                rate_per_s=float(plan.pollers),
                duration_s=plan.duration_s,
                warmup_s=plan.warmup_s,
                options={
                    # Tasks that grow from nothing and complete: the soak counts every one
                    # (pre-grown to all their segments they would end at once, and the tabs
                    # would create tasks as fast as they poll).
                    "initial_segments": 0,
                    "segments": plan.segments,
                    "segments_per_second": plan.segments_per_second,
                    "words_per_segment": plan.words_per_segment,
                    "list_rate": plan.list_rate,
                },
            )
            # The steady phase starts when Locust's warm-up ends: label the samples so.
            timer = threading.Timer(plan.warmup_s + 2.0, sampler.set_phase, ("steady",))
            timer.start()
            try:
                result = run_load(spec, out_dir)
            finally:
                timer.cancel()
                sampler.set_phase("cooldown")
            in_db, unfinished, wrong = check_tasks(db.uri, database, plan)
            sampler.stop()
        finally:
            terminate(server, 20)
            log.close()
            if server.stdout is not None:
                server.stdout.close()
    create = result.total.endpoints.get(CREATE)
    created = create.requests - create.failures if create else 0
    # Whole run: a tab polls only while its task runs, so a phase may hold few polls.
    status = result.total.endpoints.get(STATUS)
    memory = figures.process_memory(sampler.samples(), "server")
    steady = [s.rss_bytes for s in sampler.samples("server") if s.phase == "steady"]
    return SoakResult(
        mode=mode,
        duration_s=plan.duration_s,
        tasks_created=created,
        tasks_in_db=in_db,
        tasks_lost=max(0, created - in_db) + len(unfinished),
        not_completed=dict(list(unfinished.items())[:20]),
        wrong_segment_counts=wrong,
        http_5xx=_http_5xx(result),
        failures_by_name=dict(result.total.failures_by_name),
        polls=status.requests if status else 0,
        polls_per_s=round(status.rps, 1) if status else 0.0,
        status_p99_ms=round(status.p99_ms, 2) if status else 0.0,
        rss_steady_start_mib=round(steady[0] / MIB, 1) if steady else None,
        rss_steady_end_mib=round(steady[-1] / MIB, 1) if steady else None,
        rss_growth_mib_per_min=memory.growth_mib_per_min if memory else None,
    )


def _table(results: list[SoakResult]) -> str:
    rows = [["mode", "min", "tasks", "lost", "wrong", "5xx", "polls/s", "p99 ms", "RSS MiB",
             "growth MiB/min"]]  # fmt: skip
    for r in results:
        rss = f"{r.rss_steady_start_mib} -> {r.rss_steady_end_mib}"
        rows.append([r.mode, f"{r.duration_s / 60:g}", str(r.tasks_created), str(r.tasks_lost),
                     str(r.wrong_segment_counts), str(r.http_5xx), f"{r.polls_per_s:g}",
                     f"{r.status_p99_ms:g}", rss, str(r.rss_growth_mib_per_min)])  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m profiling.benchmarks.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated (default: all)")
    p.add_argument("--lean-minutes", type=float, default=10.0, help="steady phase for lean")
    p.add_argument("--other-minutes", type=float, default=2.0, help="for the other modes")
    p.add_argument("--pollers", type=int, default=500, help="total polls per second (500)")
    p.add_argument("--tasks", type=int, default=20, help="live tasks at once (20)")
    p.add_argument("--segments", type=int, default=200, help="segments per task (200)")
    p.add_argument("--driver", choices=("motor", "pymongo-async"), default="motor")
    p.add_argument("-o", "--output", type=Path, help="folder for the raw files and soak.json")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        print(f"soak: unknown mode(s) {bad}: use {', '.join(MODES)}", file=sys.stderr)
        return 2
    if min(args.lean_minutes, args.other_minutes) <= 0 or args.pollers < 1 or args.tasks < 1:
        print("soak: minutes, --pollers and --tasks must be positive", file=sys.stderr)
        return 2
    out = args.output or Path(tempfile.mkdtemp(prefix="memdiag-soak-"))
    results = []
    for mode in modes:
        minutes = args.lean_minutes if mode == "lean" else args.other_minutes
        plan = SoakPlan(minutes * 60, args.pollers, args.tasks, args.segments, driver=args.driver)
        try:
            results.append(soak_mode(mode, plan, out / mode))
        except HarnessError as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return 3
        print(_table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    write_json(out / "soak.json", {"kind": "memdiag-soak", "results": [asdict(r) for r in results]})
    print(_table(results))
    print(f"Wrote {out / 'soak.json'}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
