"""Run a program under `memray run`, then turn the capture into stats, flamegraphs, a summary.

    cmd = memray_command(["-m", "reference_server", "--mode", "lean", ...], run_dir / "memray.bin",
                         MemrayOptions(trace_python_allocators=True))
    proc = subprocess.Popen(cmd, env=memray_env(options), stdout=PIPE)   # ... load, SIGTERM
    artifacts = render_artifacts(run_dir / "memray.bin", run_dir)
    summary = summarize_capture(run_dir / "memray.bin")

`memray run -q` keeps stdout free for the program's own first line (the server prints
its URL there). With `follow_fork`, each forked child writes `<output>.<pid>`; use
`capture_files(output)` to find them all.

Aggregated captures (`aggregate=True`) are small but only support the peak and leaks
flamegraphs: `memray stats` and the temporal flamegraph need every allocation, so
`render_artifacts` skips them and says so in `MemrayArtifacts.skipped`.

`summarize_capture` reads the file through memray's `FileReader` only (no subprocess):
the heap high-water mark, the number of allocation records and the top sites at the
high-water mark, grouped by their innermost Python frame.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from profiling.artefacts import dumps
from profiling.errors import HarnessError

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class MemrayOptions:
    native: bool = False  # C/C++ frames too (slower, bigger files)
    trace_python_allocators: bool = False  # every pymalloc object, not just its arenas
    aggregate: bool = False  # small file; no stats JSON and no temporal flamegraph
    follow_fork: bool = False  # children forked by the program (worker processes)
    # Route Python's allocations through malloc, so leaks reports are not confused by
    # pymalloc arenas (memray's advice for --leaks); off by default to keep the process
    # as it runs in production.
    python_malloc: bool = False


@dataclass(frozen=True, slots=True)
class MemrayArtifacts:
    capture: Path
    stats_json: Path | None
    peak_html: Path
    leaks_html: Path
    temporal_html: Path | None
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AllocationSite:
    site: str  # "function file:line" of the innermost Python frame
    size_bytes: int  # live at the high-water mark
    n_allocations: int


@dataclass(frozen=True, slots=True)
class MemraySummary:
    capture: str
    peak_memory_bytes: int  # heap high-water mark as memray saw it
    # memray's metadata.total_allocations: every recorded event, allocations and frees
    # alike (about twice `memray stats`'s total_num_allocations for a balanced program).
    allocation_records: int
    duration_s: float
    python_allocator: str
    trace_python_allocators: bool
    native: bool
    aggregated: bool
    top_sites: tuple[AllocationSite, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        data = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        return dumps(data)


def memray_command(
    target: Sequence[str], output: Path, options: MemrayOptions = MemrayOptions()
) -> list[str]:
    """argv for `memray run` of `target` (a script path or `-m module`, then its args)."""
    if not target:
        raise ValueError("target is empty: give a script path or '-m', 'module'")
    cmd = [sys.executable, "-m", "memray", "run", "-q", "-f", "-o", str(output)]
    if options.native:
        cmd.append("--native")
    if options.trace_python_allocators:
        cmd.append("--trace-python-allocators")
    if options.aggregate:
        cmd.append("--aggregate")
    if options.follow_fork:
        cmd.append("--follow-fork")
    return [*cmd, *target]


def memray_env(options: MemrayOptions, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the memray run: `base` (default os.environ) plus our options."""
    env = dict(os.environ if base is None else base)
    if options.python_malloc:
        env["PYTHONMALLOC"] = "malloc"
    return env


def capture_files(output: Path) -> list[Path]:
    """The capture and, after --follow-fork, every child's `<output>.<pid>` file."""
    found = [output] if output.is_file() else []
    found += sorted(output.parent.glob(output.name + ".*"))
    return [p for p in found if p.suffix != ".html" and p.suffix != ".json"]


def _memray(args: Sequence[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "memray", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise HarnessError(f"memray {args[0]} failed on {args[-1]}: {tail[0]}")


def is_aggregated(capture: Path) -> bool:
    from memray import FileFormat, FileReader

    return bool(FileReader(str(capture)).metadata.file_format == FileFormat.AGGREGATED_ALLOCATIONS)


def render_artifacts(capture: Path, out_dir: Path, *, stem: str = "memray") -> MemrayArtifacts:
    """`memray stats --json` and the peak, leaks and temporal flamegraphs (offline HTML)."""
    if not capture.is_file():
        raise HarnessError(f"no memray capture at {capture}; did the run start under memray?")
    out_dir.mkdir(parents=True, exist_ok=True)
    aggregated = is_aggregated(capture)
    skipped: list[str] = []
    stats_json: Path | None = out_dir / f"{stem}-stats.json"
    temporal: Path | None = out_dir / f"{stem}-flamegraph-temporal.html"
    peak = out_dir / f"{stem}-flamegraph-peak.html"
    leaks = out_dir / f"{stem}-flamegraph-leaks.html"
    flame = ["flamegraph", "--no-web", "-f"]
    _memray([*flame, "-o", str(peak), str(capture)])
    _memray([*flame, "--leaks", "-o", str(leaks), str(capture)])
    if aggregated:
        skipped += ["stats (aggregated capture)", "temporal flamegraph (aggregated capture)"]
        stats_json = temporal = None
    else:
        assert stats_json is not None and temporal is not None
        _memray(["stats", "--json", "-f", "-o", str(stats_json), str(capture)])
        _memray([*flame, "--temporal", "-o", str(temporal), str(capture)])
    return MemrayArtifacts(
        capture=capture,
        stats_json=stats_json,
        peak_html=peak,
        leaks_html=leaks,
        temporal_html=temporal,
        skipped=tuple(skipped),
    )


def summarize_capture(capture: Path, *, top: int = 10) -> MemraySummary:
    """Heap high-water mark, allocation count and top sites, from the capture alone."""
    from memray import FileFormat, FileReader

    reader = FileReader(str(capture))
    try:
        meta = reader.metadata
        by_site: dict[str, list[int]] = {}
        for record in reader.get_high_watermark_allocation_records(merge_threads=True):
            frames = record.stack_trace(1)
            site = (
                f"{frames[0][0]} {frames[0][1]}:{frames[0][2]}" if frames else "<no python frame>"
            )
            acc = by_site.setdefault(site, [0, 0])
            acc[0] += record.size
            acc[1] += record.n_allocations
    finally:
        reader.close()
    ranked = sorted(by_site.items(), key=lambda kv: kv[1][0], reverse=True)[:top]
    return MemraySummary(
        capture=str(capture),
        peak_memory_bytes=int(meta.peak_memory),
        allocation_records=int(meta.total_allocations),
        duration_s=(meta.end_time - meta.start_time).total_seconds(),
        python_allocator=str(meta.python_allocator),
        trace_python_allocators=bool(meta.trace_python_allocators),
        native=bool(meta.has_native_traces),
        aggregated=meta.file_format == FileFormat.AGGREGATED_ALLOCATIONS,
        top_sites=tuple(AllocationSite(site, size, n) for site, (size, n) in ranked),
    )


@dataclass(frozen=True, slots=True)
class HeapWindow:
    """The heap (as memray's periodic snapshots saw it) across one wall-clock window."""

    start_heap_bytes: int  # at the last snapshot before the window opened
    peak_heap_bytes: int  # largest snapshot inside the window
    snapshots: int

    @property
    def growth_to_peak_bytes(self) -> int:
        return self.peak_heap_bytes - self.start_heap_bytes


def heap_window(capture: Path, start_epoch_s: float, end_epoch_s: float) -> HeapWindow:
    """Heap at the start of a phase and its exact peak during it.

    memray snapshots the heap every few milliseconds and, for every interval between
    two snapshots, knows the exact high-water mark; the phase's peak is the largest of
    the intervals that overlap it. Comparing a phase (not the whole run) with
    tracemalloc's reset-peak figure for the same phase avoids start-up noise: modules
    that `memray run` itself imported before tracking are invisible to memray.
    """
    from memray import FileReader

    reader = FileReader(str(capture))
    try:
        snaps = list(reader.get_memory_snapshots())
        _, interval_peaks = reader.get_temporal_high_water_mark_allocation_records(
            merge_threads=True
        )
    finally:
        reader.close()
    start_ms, end_ms = start_epoch_s * 1000, end_epoch_s * 1000
    times = [s.time for s in snaps]
    before = [s.heap for s in snaps if s.time <= start_ms]
    # Interval k ends at snapshot k and starts at snapshot k-1 (the last one is open).
    inside = [
        int(peak)
        for k, peak in enumerate(interval_peaks)
        if (k == 0 or times[k - 1] < end_ms) and (k >= len(times) or times[k] > start_ms)
    ]
    if not before or not inside:
        raise HarnessError(
            f"{capture}: no heap snapshots around {start_epoch_s:.3f}..{end_epoch_s:.3f}"
        )
    return HeapWindow(
        start_heap_bytes=int(before[-1]), peak_heap_bytes=max(inside), snapshots=len(inside)
    )
