"""What an attribution run adds to its run, as one frozen `Attribution` per profile.

    --profile tracemalloc  `tracemalloc_start` at the steady phase's start (snapshot, peak
                           reset), `tracemalloc_end` after it: the diff of the two
                           snapshots, the heap's peak, what malloc_trim could give back
    --profile holders      `holders`: the agents' answers to the request made late in
                           the steady phase (`profiling.run.whoholds`)
    --profile memray       `memray`: the capture's reports, after the server has exited

These figures never gate RSS: the profilers cost time and memory of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from profiling.artefacts import write_json, write_text
from profiling.errors import HarnessError
from profiling.probes.debugclient import DebugClient, request_peaks
from profiling.probes.heapdiff import diff_files, include_patterns, render_text
from profiling.probes.memray_capture import render_artifacts, summarize_capture
from profiling.results import figures
from profiling.results.folder import AllocationSite, HeapFigures, Holders, RequestPeaks
from profiling.run import whoholds
from profiling.run.launch import Launched
from profiling.run.plans import Progress

STEADY_START = "steady-start.tracemalloc"


@dataclass(frozen=True, slots=True)
class Attribution:
    """An attribution run's figures and files (empty for a run without a profiler)."""

    heap: HeapFigures | None = None
    sites: tuple[AllocationSite, ...] = ()
    request_peaks: RequestPeaks | None = None
    holders: Holders | None = None
    artifacts: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None  # why the run is invalid


def tracemalloc_client(launched: Launched, admin_token: str) -> DebugClient:
    """The client of the server's /debug routes, on its off-loop listener when it has one."""
    url = f"http://127.0.0.1:{launched.debug_port}" if launched.debug_port else launched.url
    # Off the loop the answer is bounded by the work, not a queue; but each hand-over
    # of the GIL to a loop busy in long C calls costs seconds (8.8 s measured for a
    # snapshot of a storm-saturated test server, against 60 s and no answer on the loop).
    return DebugClient(url, admin_token, timeout_s=300.0)


def tracemalloc_start(debug: DebugClient, run_dir: Path) -> None:
    # Snapshot, then reset: the phase's (and first request's) peak skips its pickling.
    debug.snapshot(run_dir / STEADY_START)
    debug.reset_peak()


def tracemalloc_end(debug: DebugClient, run_dir: Path) -> Attribution:
    end = run_dir / "steady-end.tracemalloc"
    debug.snapshot(end)
    memory = debug.memory()
    diff = diff_files(run_dir / STEADY_START, end, include_patterns(["reference_server"]))
    write_text(run_dir / "heapdiff.json", diff.to_json())
    (run_dir / "heapdiff.txt").write_text(render_text(diff), encoding="utf-8")
    # After the steady phase (so it cannot disturb it): how much RSS the allocator
    # was holding that malloc_trim(0) can hand back -- the "RSS minus heap" gap.
    try:
        trim: dict[str, object] = debug.malloc_trim()
    except HarnessError as exc:  # jemalloc, or not glibc: no malloc_trim
        trim = {"error": str(exc)}
    write_json(run_dir / "debug-memory.json", {"memory": memory, "malloc_trim": trim})
    tm = memory.get("tracemalloc") or {}
    found = request_peaks(memory, "list")
    return Attribution(
        heap=HeapFigures(
            heap_peak_bytes=_int(tm.get("peak_bytes")),
            source="tracemalloc",
            malloc_arenas=_int(memory.get("malloc_arenas")),
            malloc_trim_returned_bytes=_int(trim.get("returned_bytes")),
        ),
        sites=figures.heapdiff_sites(diff),
        request_peaks=None if found is None else RequestPeaks("list", *found),
        artifacts={
            "heapdiff": "heapdiff.json",
            "heapdiff_text": "heapdiff.txt",
            "debug_memory": "debug-memory.json",
        },
    )


def holders(run_dir: Path, asked: whoholds.Asked, alive: Callable[[], None]) -> Attribution:
    """Wait (bounded) for the answers to the holders request `asked`."""
    found, problem = whoholds.collect(run_dir, asked, alive)
    return Attribution(
        sites=found.top_sites,
        holders=found,
        artifacts={"holders": whoholds.HOLDERS_FILE},
        problem=problem,
    )


def memray(run_dir: Path, progress: Progress) -> Attribution:
    capture = run_dir / "memray.bin"
    progress.phase("memray reports", 0.0)
    art = render_artifacts(capture, run_dir)
    summary = summarize_capture(capture)
    write_text(run_dir / "memray-summary.json", summary.to_json())
    artifacts = {}
    for name, path in (
        ("memray_stats", art.stats_json),
        ("peak_flamegraph", art.peak_html),
        ("leaks_flamegraph", art.leaks_html),
        ("temporal_flamegraph", art.temporal_html),
    ):
        if path is not None:
            artifacts[name] = path.name
    artifacts["memray_summary"] = "memray-summary.json"
    return Attribution(
        heap=HeapFigures(summary.peak_memory_bytes, "memray"),
        sites=figures.memray_sites(summary),
        artifacts=artifacts,
    )


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
