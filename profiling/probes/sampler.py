"""A background thread that samples several labelled processes into one CSV timeline.

    with Sampler([Target("server", pid), Target("db", db_pid)], run_dir / "rss.csv") as s:
        s.set_phase("warmup")
        ...
        s.set_phase("steady", reset_peak=True)   # VmHWM restarts from current RSS
        ...
    rows = load_timeline(run_dir / "rss.csv")

Ticks are scheduled on a fixed grid (start + k * interval), so a slow read does not
drift the rate, and a stop takes one last reading so a peak between the last tick and
the stop still shows in VmHWM. Each row is one target at one tick; rows carry the phase
so summaries can pick the steady phase from the file alone. The thread measures its
own CPU time (`self_cpu_s`) so its overhead is known for every run.

A target that exits is reported once in `gone` and no longer sampled; the others go on.

A target sampled with `children=True` (a server that forks) is read process by process:
the row sums the tree, and `members(label, phase)` keeps each process's last reading of
a phase (its own VmHWM and RSS, its command line) for the report's table of processes.
With `pss=True` its rows carry the tree's summed PSS (`/proc/PID/smaps_rollup`, read for
every process at every tick: PSS counts a page shared by the tree once, so the sum is
what the tree holds, which summed RSS or VmHWM overstate).

A target sampled with `connections=True` (the server) also gets its open client TCP
connections counted at every tick (`profiling.probes.connections`, the `connections`
column; empty for the other targets). Timelines written before that column existed
still load, with `connections` None.
"""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from profiling.probes import connections as tcp
from profiling.probes import procmem

DEFAULT_INTERVAL_S = 0.5  # 2 Hz: enough for plots and slopes; the kernel peak covers spikes


@dataclass(frozen=True, slots=True)
class Target:
    """A process to sample, under a label such as `server`, `db` or `loadgen`."""

    label: str
    pid: int
    children: bool = False
    connections: bool = False  # count the clients connected to its listening ports
    pss: bool = False  # read PSS (smaps_rollup) at every tick, even without `detail`


@dataclass(frozen=True, slots=True)
class Member:
    """One process of a sampled tree: its last reading in a phase."""

    pid: int
    main: bool  # the target's own process (else a descendant)
    command: str  # its command line, shortened
    rss_bytes: int
    peak_rss_bytes: int  # VmHWM: since the phase's reset, or since it started
    pss_bytes: int | None


@dataclass(frozen=True, slots=True)
class Sample:
    """One CSV row: one target at one tick; `t_s` counts from the sampler's start."""

    t_s: float
    label: str
    phase: str
    pid: int
    rss_bytes: int
    peak_rss_bytes: int
    rss_anon_bytes: int
    rss_file_bytes: int
    rss_shmem_bytes: int
    cpu_s: float
    nprocs: int
    uss_bytes: int | None
    pss_bytes: int | None
    connections: int | None = None  # open client TCP connections; None: not counted


COLUMNS = [f.name for f in fields(Sample)]
OPTIONAL_COLUMNS = frozenset({"connections"})  # absent from older timelines


class Sampler:
    """Samples `targets` every `interval_s` on a daemon thread, writing `csv_path`."""

    def __init__(
        self,
        targets: Sequence[Target],
        csv_path: Path,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        detail: bool = False,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        labels = [t.label for t in targets]
        if len(set(labels)) != len(labels):
            raise ValueError(f"target labels must be unique, got {labels}")
        self.targets = list(targets)
        self.csv_path = Path(csv_path)
        self.interval_s = interval_s
        self.detail = detail
        self.gone: set[str] = set()
        self.self_cpu_s = 0.0  # CPU the sampling thread itself used
        self.ticks = 0
        self._phase = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self.t0_epoch_s = 0.0
        self._samples: list[Sample] = []
        self._members: dict[tuple[str, str], dict[int, Member]] = {}
        self._commands: dict[int, str] = {}
        self._file: TextIO | None = None
        self._writer: Any = None  # csv's writer type is private

    @property
    def phase(self) -> str:
        return self._phase

    def set_phase(self, phase: str, *, reset_peak: bool = False) -> None:
        """Label the following rows `phase`; optionally restart every target's VmHWM.

        The reset happens under the sampling lock, so no row of the new phase can carry
        a peak from the old one.
        """
        with self._lock:
            if reset_peak:
                for target in self.targets:
                    if target.label not in self.gone:
                        procmem.reset_peak(target.pid, children=target.children)
            self._phase = phase
            if self._writer is not None:
                self._sample_locked()

    def samples(self, label: str | None = None) -> list[Sample]:
        with self._lock:
            return [s for s in self._samples if label is None or s.label == label]

    def members(self, label: str, phase: str = "steady") -> list[Member]:
        """Each process of `label`'s tree sampled in `phase`, at its last reading there,
        the main process first, then by pid (empty for a target without children)."""
        with self._lock:
            found = self._members.get((label, phase), {})
            return sorted(found.values(), key=lambda m: (not m.main, m.pid))

    def start(self) -> Sampler:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.csv_path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._t0 = time.monotonic()
        self.t0_epoch_s = time.time()  # t_s = 0 on the wall clock (the agent writes epoch s)
        with self._lock:
            self._sample_locked()
        self._thread = threading.Thread(target=self._run, name="memdiag-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, take a last reading, close the CSV. Safe to call twice."""
        if self._thread is None or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        with self._lock:
            self._sample_locked()
            self._writer = None
            if self._file is not None:
                self._file.close()

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        start_cpu = time.thread_time()
        tick = 1
        while not self._stop.wait(max(0.0, self._t0 + tick * self.interval_s - time.monotonic())):
            with self._lock:
                self._sample_locked()
            self.self_cpu_s = time.thread_time() - start_cpu
            now = time.monotonic()
            # After a stall (suspended host, heavy load) skip missed ticks, do not burst.
            tick = max(tick + 1, int((now - self._t0) / self.interval_s) + 1)

    def _sample_locked(self) -> None:
        t_s = time.monotonic() - self._t0
        for target in self.targets:
            if target.label in self.gone:
                continue
            try:
                r = self._read(target)
            except procmem.ProbeError:
                self.gone.add(target.label)
                continue
            row = Sample(
                t_s=round(t_s, 4),
                label=target.label,
                phase=self._phase,
                pid=target.pid,
                rss_bytes=r.rss_bytes,
                peak_rss_bytes=r.peak_rss_bytes,
                rss_anon_bytes=r.rss_anon_bytes,
                rss_file_bytes=r.rss_file_bytes,
                rss_shmem_bytes=r.rss_shmem_bytes,
                cpu_s=r.cpu_s,
                nprocs=r.nprocs,
                uss_bytes=r.uss_bytes,
                pss_bytes=r.pss_bytes,
                connections=_connections(target) if target.connections else None,
            )
            self._samples.append(row)
            if self._writer is not None:
                self._writer.writerow(["" if v is None else v for v in _values(row)])
        self.ticks += 1
        if self._file is not None:
            self._file.flush()

    def _read(self, target: Target) -> procmem.MemReading:
        detail = self.detail or target.pss
        if not target.children:
            return procmem.read_mem(target.pid, detail=detail)
        readings = procmem.read_tree(target.pid, detail=detail)
        members = self._members.setdefault((target.label, self._phase), {})
        for r in readings:
            if r.pid not in self._commands:
                self._commands[r.pid] = procmem.command_line(r.pid)
            members[r.pid] = Member(
                pid=r.pid,
                main=r.pid == target.pid,
                command=self._commands[r.pid],
                rss_bytes=r.rss_bytes,
                peak_rss_bytes=r.peak_rss_bytes,
                pss_bytes=r.pss_bytes,
            )
        return procmem.combine(target.pid, readings)


def _connections(target: Target) -> int | None:
    pids = [target.pid]
    if target.children:
        pids += procmem.descendant_pids(target.pid)
    return tcp.open_connections(pids)


def _values(sample: Sample) -> Iterator[object]:
    return (getattr(sample, name) for name in COLUMNS)


def load_timeline(csv_path: Path) -> list[Sample]:
    """Parse a sampler CSV back into rows (pure apart from reading the file)."""
    with Path(csv_path).open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(COLUMNS) - OPTIONAL_COLUMNS - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path}: not a sampler timeline, missing {sorted(missing)}")
        return [_parse_row(row) for row in reader]


def _parse_row(row: dict[str, str]) -> Sample:
    def opt(name: str) -> int | None:
        value = row.get(name)
        return int(value) if value else None

    return Sample(
        t_s=float(row["t_s"]),
        label=row["label"],
        phase=row["phase"],
        pid=int(row["pid"]),
        rss_bytes=int(row["rss_bytes"]),
        peak_rss_bytes=int(row["peak_rss_bytes"]),
        rss_anon_bytes=int(row["rss_anon_bytes"]),
        rss_file_bytes=int(row["rss_file_bytes"]),
        rss_shmem_bytes=int(row["rss_shmem_bytes"]),
        cpu_s=float(row["cpu_s"]),
        nprocs=int(row["nprocs"]),
        uss_bytes=opt("uss_bytes"),
        pss_bytes=opt("pss_bytes"),
        connections=opt("connections"),
    )
