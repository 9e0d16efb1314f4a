"""What makes up a server's RSS, from the in-process agent's samples (pure).

The agent (`profiling/probes/agent/memagent.py`) writes one JSON line per process per
tick. A line splits RSS into parts that do not overlap:

    RSS = Python objects in pymalloc     (bytes in pymalloc's allocated blocks)
        + pymalloc free                  (pymalloc arena bytes not in allocated blocks)
        + malloc in use                  (uordblks: large Python objects, C buffers)
        + malloc free but held           (fordblks)
        + malloc mmapped                 (hblkhd: big blocks, one mmap each)
        + file-backed                    (RssFile + RssShmem: code, mapped files)
        + unaccounted                    (the rest; negative when an allocator counts
                                          pages the process never touched)

pymalloc's arenas are mmapped directly, not through malloc, so the two do not overlap.
With several processes the parts are summed at each tick of the main process. The
run's figures are the parts at the sampled RSS peak of the steady phase and each part's
median over it; a report flags an unaccounted share above `UNACCOUNTED_LIMIT_PCT`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

UNACCOUNTED_LIMIT_PCT = 10.0
PART_NAMES = (
    "pymalloc_used_bytes",
    "pymalloc_free_bytes",
    "malloc_used_bytes",
    "malloc_free_bytes",
    "malloc_mmapped_bytes",
    "file_bytes",
)


@dataclass(frozen=True, slots=True)
class RssParts:
    """One RSS figure and its parts in bytes (see the module docstring)."""

    rss_bytes: int
    pymalloc_used_bytes: int
    pymalloc_free_bytes: int
    malloc_used_bytes: int
    malloc_free_bytes: int
    malloc_mmapped_bytes: int
    file_bytes: int

    @property
    def accounted_bytes(self) -> int:
        return sum(getattr(self, name) for name in PART_NAMES)

    @property
    def unaccounted_bytes(self) -> int:
        return self.rss_bytes - self.accounted_bytes

    @property
    def unaccounted_pct(self) -> float:
        return 100.0 * self.unaccounted_bytes / self.rss_bytes if self.rss_bytes else 0.0

    def __add__(self, other: RssParts) -> RssParts:
        return RssParts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True, slots=True)
class PartsPoint:
    """The parts at one tick; `t_s` on the run's timeline clock (rss.csv's t_s)."""

    t_s: float
    parts: RssParts
    threads: int = 0


@dataclass(frozen=True, slots=True)
class RssBreakdown:
    """The server's RSS decomposed over a run's steady phase (in run.json as `rss_parts`)."""

    at_peak: RssParts  # at the agent's highest RSS sample of the steady phase
    peak_t_s: float  # when, on the timeline clock
    median: RssParts  # each part's median over the steady phase (RSS: its median)
    samples: int  # combined ticks in the steady phase
    processes: int  # server processes the agent sampled
    allocator: str  # "glibc", "jemalloc", "unknown"; "+PYTHONMALLOC=malloc" when set
    worst_unaccounted_pct: float  # the largest |unaccounted| share at any steady tick
    threads_max: int
    gc_collections: int  # all generations, steady phase, all processes
    gc_seconds: float
    agent_cpu_percent: float | None  # the agent threads' CPU, % of one core

    @property
    def flagged(self) -> bool:
        return abs(self.at_peak.unaccounted_pct) > UNACCOUNTED_LIMIT_PCT


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def decompose(
    record: Mapping[str, Any], pymalloc: Mapping[str, Any] | None = None
) -> RssParts | None:
    """The parts of one agent line; `pymalloc` stands in for a line sampled without it.

    None when the line cannot be split: no RSS, or pymalloc on but not known.
    """
    rss = _int(record.get("rss"))
    if rss <= 0:
        return None
    pym = record.get("pymalloc") or pymalloc
    if pym is None and record.get("pythonmalloc") != "malloc":
        return None
    malloc = record.get("malloc") or {}
    used = _int(pym.get("used")) if pym else 0
    return RssParts(
        rss_bytes=rss,
        pymalloc_used_bytes=used,
        pymalloc_free_bytes=_int(pym.get("arena_bytes")) - used if pym else 0,
        malloc_used_bytes=_int(malloc.get("in_use")),
        malloc_free_bytes=_int(malloc.get("free")),
        malloc_mmapped_bytes=_int(malloc.get("mmapped")),
        file_bytes=_int(record.get("file")) + _int(record.get("shmem")),
    )


@dataclass(frozen=True, slots=True)
class _Tick:
    t: float  # epoch seconds
    parts: RssParts
    record: Mapping[str, Any]


def _ticks(records: Iterable[Mapping[str, Any]]) -> list[_Tick]:
    """One process's decomposable lines, in time order (pymalloc carried forward)."""
    out: list[_Tick] = []
    last_pymalloc: Mapping[str, Any] | None = None
    for record in sorted(records, key=lambda r: float(r.get("t") or 0.0)):
        parts = decompose(record, last_pymalloc)
        last_pymalloc = record.get("pymalloc") or last_pymalloc
        if parts is not None:
            out.append(_Tick(float(record["t"]), parts, record))
    return out


def combine(
    by_pid: Mapping[int, Sequence[Mapping[str, Any]]], main_pid: int, interval_s: float
) -> list[tuple[float, RssParts, int]]:
    """(epoch t, summed parts, threads) at each tick of `main_pid`: every other process
    adds its latest line no older than 1.5 intervals (one that has exited adds none)."""
    main = _ticks(by_pid.get(main_pid, ()))
    others = [_ticks(v) for pid, v in by_pid.items() if pid != main_pid]
    out = []
    for tick in main:
        total, threads = tick.parts, _int(tick.record.get("threads"))
        for series in others:
            near = [
                o for o in series if tick.t - 1.5 * interval_s <= o.t <= tick.t + interval_s / 2
            ]
            if near:
                total = total + near[-1].parts
                threads += _int(near[-1].record.get("threads"))
        out.append((tick.t, total, threads))
    return out


def _median_parts(parts: Sequence[RssParts]) -> RssParts:
    return RssParts(
        *(int(statistics.median(getattr(p, f.name) for p in parts)) for f in fields(RssParts))
    )


def _delta(records: Sequence[Mapping[str, Any]], start: float, end: float, get: Any) -> float:
    inside = [r for r in records if start <= float(r.get("t") or 0.0) <= end]
    if len(inside) < 2:
        return 0.0
    return float(get(inside[-1]) - get(inside[0]))


def _number(key: str) -> Any:
    def get(record: Mapping[str, Any]) -> float:
        value = record.get(key)
        return float(value) if isinstance(value, int | float) else 0.0

    return get


def _gc_total(key: str) -> Any:
    def get(record: Mapping[str, Any]) -> float:
        gc = record.get("gc") or {}
        return float(sum(gc.get(key) or ()))

    return get


def breakdown(
    by_pid: Mapping[int, Sequence[Mapping[str, Any]]],
    main_pid: int,
    interval_s: float,
    steady_epoch_s: tuple[float, float],
    clock_epoch_s: float,
) -> tuple[RssBreakdown | None, list[PartsPoint]]:
    """The steady phase's breakdown and the whole run's points (on the timeline clock,
    whose zero is `clock_epoch_s`); no breakdown when no steady tick could be split."""
    combined = combine(by_pid, main_pid, interval_s)
    points = [PartsPoint(round(t - clock_epoch_s, 3), p, n) for t, p, n in combined]
    start, end = steady_epoch_s
    steady = [(t, p, n) for t, p, n in combined if start <= t <= end]
    if not steady:
        return None, points
    t_peak, at_peak, _ = max(steady, key=lambda s: s[1].rss_bytes)
    first = next(iter(by_pid.get(main_pid, ())), {})
    allocator = str(first.get("allocator") or "unknown")
    if first.get("pythonmalloc"):
        allocator += f"+PYTHONMALLOC={first['pythonmalloc']}"
    cpu_s = sum(_delta(v, start, end, _number("agent_cpu_s")) for v in by_pid.values())
    seconds = end - start
    return (
        RssBreakdown(
            at_peak=at_peak,
            peak_t_s=round(t_peak - clock_epoch_s, 3),
            median=_median_parts([p for _, p, _ in steady]),
            samples=len(steady),
            processes=len(by_pid),
            allocator=allocator,
            worst_unaccounted_pct=round(max(abs(p.unaccounted_pct) for _, p, _ in steady), 2),
            threads_max=max(n for _, _, n in steady),
            gc_collections=int(
                sum(_delta(v, start, end, _gc_total("collections")) for v in by_pid.values())
            ),
            gc_seconds=round(
                sum(_delta(v, start, end, _gc_total("seconds")) for v in by_pid.values()), 4
            ),
            agent_cpu_percent=round(cpu_s / seconds * 100.0, 3) if seconds > 0 else None,
        ),
        points,
    )


# --- agent.csv: the points, beside rss.csv in the run folder ------------------------

PARTS_COLUMNS = ("t_s", "rss_bytes", *PART_NAMES, "threads")


def parts_csv(points: Sequence[PartsPoint]) -> str:
    lines = [",".join(PARTS_COLUMNS)]
    for p in points:
        values = [getattr(p.parts, name) for name in ("rss_bytes", *PART_NAMES)]
        lines.append(f"{p.t_s:.3f}," + ",".join(map(str, values)) + f",{p.threads}")
    return "\n".join(lines) + "\n"


def parse_parts_csv(text: str, where: str) -> tuple[PartsPoint, ...]:
    """agent.csv back into points; ValueError naming `where` and the line if malformed."""
    lines = text.splitlines()
    if not lines or tuple(lines[0].split(",")) != PARTS_COLUMNS:
        raise ValueError(f"{where}: expected the header {','.join(PARTS_COLUMNS)}")
    points = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        try:
            if len(cells) != len(PARTS_COLUMNS):
                raise ValueError
            values = [int(c) for c in cells[1:]]
            points.append(PartsPoint(float(cells[0]), RssParts(*values[:-1]), values[-1]))
        except ValueError:
            raise ValueError(
                f"{where}: line {number}: expected {len(PARTS_COLUMNS)} numbers"
            ) from None
    return tuple(points)
