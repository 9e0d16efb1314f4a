"""Offline diff of two tracemalloc snapshot files: where did the heap grow, in our code?

    python -m profiling.probes.heapdiff before.tracemalloc after.tracemalloc \\
        --include reference_server --top 10 --json diff.json --text diff.txt

Traces are kept only if some frame of their traceback passes through an included
package (`--include NAME` matches `*/NAME/*`) or path (`--include-path DIR`), so an
allocation made deep inside bson or aiohttp on behalf of our handler still counts,
and is attributed to it. Sites are grouped by whole traceback (tracemalloc's
`compare_to(..., "traceback")`) or, with `group="site"`, by the innermost included
frame: the line of our code that asked for the memory.

The snapshots need enough frames (`tracemalloc.start(25)` or the server's
`--tracemalloc-frames`) for the included frame to be on the stack at all.
"""

from __future__ import annotations

import argparse
import fnmatch
import pickle
import sys
import tracemalloc
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from profiling.artefacts import dumps, write_text
from profiling.errors import ExitCode

SCHEMA_VERSION = 1
DEFAULT_TOP = 10
Group = Literal["traceback", "site"]
_NOISE = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>", "<unknown>")


@dataclass(frozen=True, slots=True)
class GrowthSite:
    """One group of allocations and how it changed between the two snapshots."""

    site: str  # "file:line" of the innermost included frame
    size_diff_bytes: int
    count_diff: int
    size_bytes: int  # in the newer snapshot
    count: int
    traceback: tuple[str, ...]  # "file:line", innermost first


@dataclass(frozen=True, slots=True)
class HeapDiff:
    old_path: str
    new_path: str
    includes: tuple[str, ...]
    group: str
    total_old_bytes: int  # of the included traces
    total_new_bytes: int
    sites: tuple[GrowthSite, ...]  # largest growth first

    def to_json(self) -> str:
        data = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        return dumps(data)


def include_patterns(packages: Sequence[str] = (), paths: Sequence[str | Path] = ()) -> list[str]:
    """fnmatch patterns for tracemalloc filenames: packages by folder, paths by prefix."""
    out = [f"*/{name.replace('.', '/')}/*" for name in packages]
    out += [f"{Path(p).resolve()}/*" for p in paths]
    return out


def _filter(snapshot: tracemalloc.Snapshot, patterns: Sequence[str]) -> tracemalloc.Snapshot:
    """Snapshot.filter_traces with these filters, decided once per distinct traceback:
    filter_traces runs fnmatch on every frame of every trace in Python (over five
    minutes for two 35 MB snapshots of 25 frames), while a snapshot holds a few thousand
    distinct tracebacks, shared between its traces (tracemalloc interns them and pickle
    keeps the sharing)."""
    filters: list[tracemalloc.Filter | tracemalloc.DomainFilter] = [
        tracemalloc.Filter(False, n) for n in _NOISE
    ]
    filters.append(tracemalloc.Filter(False, tracemalloc.__file__))
    filters += [tracemalloc.Filter(True, p, all_frames=True) for p in patterns]
    raw = getattr(snapshot.traces, "_traces", None)
    if not isinstance(raw, list):  # another Python's internals: the slow public way
        return snapshot.filter_traces(filters)
    excluded = [*_NOISE, tracemalloc.__file__]  # the exclusive filters above
    keep: dict[int, bool] = {}
    kept = []
    for trace in raw:
        traceback = trace[2]
        verdict = keep.get(id(traceback))
        if verdict is None:
            verdict = _passes(traceback, excluded, patterns)
            keep[id(traceback)] = verdict
        if verdict:
            kept.append(trace)
    return tracemalloc.Snapshot(kept, snapshot.traceback_limit)


def _passes(
    traceback: tuple[tuple[str, int], ...], excluded: Sequence[str], included: Sequence[str]
) -> bool:
    """Filter semantics: the most recent frame must match no exclusion, and some frame
    must match an inclusion (tracemalloc's raw tracebacks are most recent first)."""
    recent = traceback[0][0] if traceback else "<unknown>"
    if any(fnmatch.fnmatch(recent, pattern) for pattern in excluded):
        return False
    return any(fnmatch.fnmatch(name, p) for name, _line in traceback for p in included)


def _innermost_included(tb: tracemalloc.Traceback, patterns: Sequence[str]) -> str:
    frames = list(tb)[::-1]  # tracemalloc orders oldest first
    for frame in frames:
        if any(fnmatch.fnmatch(frame.filename, p) for p in patterns):
            return f"{frame.filename}:{frame.lineno}"
    first = frames[0] if frames else None
    return f"{first.filename}:{first.lineno}" if first else "?"


def diff_snapshots(
    old: tracemalloc.Snapshot,
    new: tracemalloc.Snapshot,
    patterns: Sequence[str],
    *,
    top: int = DEFAULT_TOP,
    group: Group = "traceback",
    old_path: str = "",
    new_path: str = "",
) -> HeapDiff:
    """Top `top` growth sites of `new` over `old`, restricted to `patterns` (pure)."""
    if not patterns:
        raise ValueError("give at least one package or path to include")
    old_f, new_f = _filter(old, patterns), _filter(new, patterns)
    stats = new_f.compare_to(old_f, "traceback")
    grouped: dict[str, list[tracemalloc.StatisticDiff]] = {}
    for stat in stats:
        key = _innermost_included(stat.traceback, patterns) if group == "site" else str(id(stat))
        grouped.setdefault(key, []).append(stat)
    sites = []
    for members in grouped.values():
        lead = max(members, key=lambda s: s.size_diff)
        tb = tuple(f"{f.filename}:{f.lineno}" for f in list(lead.traceback)[::-1])
        sites.append(
            GrowthSite(
                site=_innermost_included(lead.traceback, patterns),
                size_diff_bytes=sum(s.size_diff for s in members),
                count_diff=sum(s.count_diff for s in members),
                size_bytes=sum(s.size for s in members),
                count=sum(s.count for s in members),
                traceback=tb,
            )
        )
    sites.sort(key=lambda s: s.size_diff_bytes, reverse=True)
    return HeapDiff(
        old_path=old_path,
        new_path=new_path,
        includes=tuple(patterns),
        group=group,
        total_old_bytes=sum(t.size for t in old_f.traces),
        total_new_bytes=sum(t.size for t in new_f.traces),
        sites=tuple(sites[:top]),
    )


def diff_files(
    old_path: Path,
    new_path: Path,
    patterns: Sequence[str],
    *,
    top: int = DEFAULT_TOP,
    group: Group = "traceback",
) -> HeapDiff:
    """Load two `snapshot.dump` files and diff them (see `diff_snapshots`)."""
    old = tracemalloc.Snapshot.load(str(old_path))
    new = tracemalloc.Snapshot.load(str(new_path))
    return diff_snapshots(
        old,
        new,
        patterns,
        old_path=str(old_path),
        new_path=str(new_path),
        top=top,
        group=group,
    )


def render_text(diff: HeapDiff) -> str:
    """Human-readable top-N list: size and count deltas, the site, then its stack."""
    mib = 1024 * 1024
    lines = [
        f"heap growth {diff.old_path} -> {diff.new_path}",
        f"included: {', '.join(diff.includes)}; grouped by {diff.group}",
        f"total {diff.total_old_bytes / mib:.2f} MiB -> {diff.total_new_bytes / mib:.2f} MiB",
        "",
    ]
    for rank, site in enumerate(diff.sites, 1):
        lines.append(
            f"#{rank} {site.size_diff_bytes / 1024:+.1f} KiB ({site.count_diff:+d} blocks), "
            f"now {site.size_bytes / 1024:.1f} KiB in {site.count} blocks: {site.site}"
        )
        lines.extend(f"      {frame}" for frame in site.traceback[:8])
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m profiling.probes.heapdiff",
        description="Diff two tracemalloc snapshot files, filtered to our code.",
    )
    parser.add_argument("old", type=Path, help="earlier snapshot (.tracemalloc)")
    parser.add_argument("new", type=Path, help="later snapshot (.tracemalloc)")
    parser.add_argument("--include", action="append", default=[], metavar="PACKAGE")
    parser.add_argument("--include-path", action="append", default=[], metavar="DIR")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP)
    parser.add_argument("--group", choices=["traceback", "site"], default="traceback")
    parser.add_argument("--json", type=Path, help="write the diff as JSON here")
    parser.add_argument("--text", type=Path, help="write the text report here (else stdout)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    for path in (args.old, args.new):
        if not path.is_file():
            print(f"heapdiff: no such snapshot file: {path}", file=sys.stderr)
            return ExitCode.USAGE
    patterns = include_patterns(args.include or ["reference_server"], args.include_path)
    try:
        diff = diff_files(args.old, args.new, patterns, top=args.top, group=args.group)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        print(
            f"heapdiff: cannot read snapshots ({exc}); write them with snapshot.dump",
            file=sys.stderr,
        )
        return ExitCode.INVALID
    if args.json:
        write_text(args.json, diff.to_json())
        print(f"Wrote {args.json}")
    if args.text:
        args.text.write_text(render_text(diff))
        print(f"Wrote {args.text}")
    else:
        print(render_text(diff), end="")
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
