"""Read one process's memory and CPU from Linux /proc, cheaply, and reset its kernel peak.

`read_mem(pid)` parses `/proc/PID/status` (one small read: VmRSS, VmHWM, RssAnon,
RssFile, RssShmem) and `/proc/PID/stat` (CPU ticks). USS/PSS come from
`/proc/PID/smaps_rollup` only when asked, because the kernel walks every page table to
produce it (about ten times the cost of a status read on a large heap).

`reset_peak(pid)` writes `5` to `/proc/PID/clear_refs`: the kernel then restarts VmHWM
from the current RSS, so a peak measured after warm-up excludes the warm-up. Writing it
needs the same user as the target (or CAP_SYS_PTRACE); a failure is a `ProbeError`.

`children=True` adds every descendant (via /proc/PID/task/*/children) to the figures,
for servers that fork workers or a diarization child. The kernel peak of a family is
the sum of each member's VmHWM, an upper bound of the family's simultaneous peak.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from profiling.errors import HarnessError

PROC = Path("/proc")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_STATUS_FIELDS = {
    "VmRSS": "rss_bytes",
    "VmHWM": "peak_rss_bytes",
    "RssAnon": "rss_anon_bytes",
    "RssFile": "rss_file_bytes",
    "RssShmem": "rss_shmem_bytes",
}


class ProbeError(HarnessError):
    """A /proc read or write failed: the process is gone or not ours to inspect."""


@dataclass(frozen=True, slots=True)
class MemReading:
    """One reading of one process (or a process and its descendants), sizes in bytes."""

    pid: int
    monotonic_s: float
    rss_bytes: int
    peak_rss_bytes: int  # VmHWM: the kernel's high-water mark since start or reset
    rss_anon_bytes: int
    rss_file_bytes: int
    rss_shmem_bytes: int
    cpu_s: float  # user + system CPU time since start
    nprocs: int = 1
    uss_bytes: int | None = None  # only with detail=True
    pss_bytes: int | None = None


def _read_text(path: Path) -> str:
    # os.read on a raw fd: a third of the cost of Path.read_text, which matters at 10 Hz.
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise ProbeError(f"process gone: cannot read {path}") from exc
    except PermissionError as exc:
        raise ProbeError(f"permission denied reading {path}; run as the same user") from exc
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except ProcessLookupError as exc:
        raise ProbeError(f"process gone: cannot read {path}") from exc
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def parse_status(text: str) -> dict[str, int]:
    """The fields of /proc/PID/status we use, in bytes (the kernel reports kB)."""
    out = dict.fromkeys(_STATUS_FIELDS.values(), 0)
    # Find our five keys directly instead of splitting all ~60 lines: a sampler at 10 Hz
    # over several processes calls this often.
    for key, name in _STATUS_FIELDS.items():
        start = text.find("\n" + key + ":")
        if start < 0:
            continue
        start += len(key) + 2
        end = text.find("\n", start)
        out[name] = int(text[start : end if end >= 0 else None].split()[0]) * 1024
    return out


def parse_stat_cpu_s(text: str) -> float:
    """utime + stime from /proc/PID/stat, in seconds.

    The command name (field 2) may hold spaces and parentheses, so split after the
    last ')'.
    """
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def parse_smaps_rollup(text: str) -> tuple[int, int]:
    """(USS, PSS) in bytes: USS is the private pages, clean and dirty."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            values[key] = int(parts[0]) * 1024
    uss = values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)
    return uss, values.get("Pss", 0)


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid`, from every thread's children list."""
    found: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return found
    for task in tasks:
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def descendant_pids(pid: int) -> list[int]:
    """Every descendant of `pid` (not `pid` itself), parents before children."""
    out: list[int] = []
    frontier = [pid]
    while frontier:
        kids = [c for p in frontier for c in child_pids(p)]
        out.extend(kids)
        frontier = kids
    return out


def _read_one(pid: int, detail: bool) -> MemReading:
    base = PROC / str(pid)
    text = _read_text(base / "status")
    if "\nState:\tZ" in text:
        # Exited but not yet reaped by its parent (a server the caller started itself):
        # /proc still lists it, with no memory at all. It is gone, not a reading of 0.
        raise ProbeError(f"process gone: {pid} has exited (a zombie, not yet reaped)")
    status = parse_status(text)
    cpu_s = parse_stat_cpu_s(_read_text(base / "stat"))
    uss = pss = None
    if detail:
        uss, pss = parse_smaps_rollup(_read_text(base / "smaps_rollup"))
    return MemReading(
        pid=pid, monotonic_s=time.monotonic(), cpu_s=cpu_s, uss_bytes=uss, pss_bytes=pss, **status
    )


def read_mem(pid: int, *, children: bool = False, detail: bool = False) -> MemReading:
    """Read `pid` (plus its descendants when `children`); `detail` adds USS and PSS."""
    if not children:
        return _read_one(pid, detail)
    return combine(pid, read_tree(pid, detail=detail))


def read_tree(pid: int, *, detail: bool = False) -> list[MemReading]:
    """One reading per process of `pid`'s tree, `pid` first; `detail` adds USS and PSS.
    A `ProbeError` when `pid` itself is gone; a descendant that is gone is left out."""
    readings = [_read_one(pid, detail)]
    for kid in descendant_pids(pid):
        try:
            readings.append(_read_one(kid, detail))
        except ProbeError:
            continue  # a child that exited between listing and reading is simply gone
    return readings


def command_line(pid: int, limit: int = 80) -> str:
    """`pid`'s command line for a table: absolute paths cut to their last part (the
    interpreter's and the script's names say which process it is), at most `limit`
    characters ("" if gone)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    parts = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    text = " ".join(Path(p).name if p.startswith("/") else p for p in parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def combine(pid: int, readings: list[MemReading]) -> MemReading:
    """The readings of a tree as one: sizes and CPU summed. Summed PSS counts a page the
    tree's processes share once (each holds its share); summed VmHWM is an upper bound of
    the tree's simultaneous peak (each process's own peak, whenever it was)."""

    def total(name: str) -> int:
        return sum(int(getattr(r, name)) for r in readings)

    detail = readings[0].uss_bytes is not None
    return MemReading(
        pid=pid,
        monotonic_s=readings[0].monotonic_s,
        rss_bytes=total("rss_bytes"),
        peak_rss_bytes=total("peak_rss_bytes"),
        rss_anon_bytes=total("rss_anon_bytes"),
        rss_file_bytes=total("rss_file_bytes"),
        rss_shmem_bytes=total("rss_shmem_bytes"),
        cpu_s=sum(r.cpu_s for r in readings),
        nprocs=len(readings),
        uss_bytes=sum(r.uss_bytes or 0 for r in readings) if detail else None,
        pss_bytes=sum(r.pss_bytes or 0 for r in readings) if detail else None,
    )


def reset_peak(pid: int, *, children: bool = False) -> None:
    """Restart the kernel's VmHWM from the current RSS (write 5 to clear_refs)."""
    pids = [pid, *descendant_pids(pid)] if children else [pid]
    for target in pids:
        path = PROC / str(target) / "clear_refs"
        try:
            path.write_text("5")
        except (FileNotFoundError, ProcessLookupError) as exc:
            if target == pid:
                raise ProbeError(f"process gone: cannot write {path}") from exc
        except PermissionError as exc:
            raise ProbeError(
                f"permission denied writing {path}; run as the process's user"
            ) from exc


def peak_rss_bytes(pid: int, *, children: bool = False) -> int:
    """The kernel's high-water mark (VmHWM) since start or the last `reset_peak`."""
    return read_mem(pid, children=children).peak_rss_bytes
