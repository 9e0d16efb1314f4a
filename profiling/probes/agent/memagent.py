"""The in-process memory agent: what makes up this process's RSS, sampled over time.

memdiag injects it into a server it starts, with no change to the server: the folder
of this file goes first on PYTHONPATH, where `sitecustomize.py` starts it when
`MEMDIAG_AGENT_DIR` is set. It is stdlib only and imports nothing from memdiag,
because the server may run in another virtualenv.

A daemon thread appends one JSON line every `MEMDIAG_AGENT_INTERVAL_S` (default 0.5)
to `<MEMDIAG_AGENT_DIR>/agent-<pid>.jsonl`, one file per process; a forked child
re-arms itself (`os.register_at_fork`) and writes its own file. A line holds:

- `t` (epoch s), `pid`, `rss`/`anon`/`file`/`shmem` bytes from /proc/self/status;
- `malloc`: glibc `mallinfo2()` -- `arena` (heap bytes from the system, sbrk and
  every thread arena), `in_use` (uordblks), `free` (fordblks, free but held),
  `mmapped` (hblkhd) in `mmapped_chunks` (hblks), `keepcost`; or, under jemalloc,
  its `stats.allocated/active/resident/mapped`; `allocator` says which;
- `pymalloc`: Python's small-object allocator -- `arenas`, `arena_bytes`, `used`
  (bytes in allocated blocks), `free` (arena bytes not in allocated blocks), with
  `available_blocks` and `unused_pools` from the same report. Its arenas are mmapped
  directly, not through malloc, so they are not in `malloc`. Python 3.11 shows them
  only in `sys._debugmallocstats()`, which prints to the C stderr: the agent points
  fd 2 at a temp file for the call and forwards any line in it that is not the
  report's own (another thread's write) to the real stderr. It costs about 1 ms of
  held GIL per 250 MiB of arenas, so it runs every `MEMDIAG_AGENT_PYMALLOC_EVERY`-th
  tick (default 1: every tick) and lines without it carry `pymalloc: null`. With
  `PYTHONMALLOC=malloc` (`pythonmalloc` in the line) pymalloc is off and every
  object is in malloc;
- `blocks` (`sys.getallocatedblocks()`), `threads` (/proc/self/task), `gc`
  (collections and seconds per generation, timed by a `gc.callbacks` hook),
  `agent_cpu_s` (this thread's CPU time, so its overhead is known) and
  `process_cpu_s`.

Holder requests (the meeting point with `holders.py`, a sibling module written
separately): on each tick, if `<dir>/holders-request.json` holds an `"id"` this
process has not handled, the agent imports `holders` from this folder and calls
`holders.find_holders(**request["args"])`; the JSON-able dict it returns, plus `id`,
`pid`, `t`, `rss_bytes` and `elapsed_s`, is written atomically (tmp + rename) to
`<dir>/holders-<id>-<pid>.json`. An exception (a missing `holders` included) writes
`{"id", "pid", "error"}` there instead.

The agent never breaks its host: its first error is written once to stderr and the
agent stops.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.util
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

ENV_DIR = "MEMDIAG_AGENT_DIR"
ENV_INTERVAL = "MEMDIAG_AGENT_INTERVAL_S"
ENV_PYMALLOC_EVERY = "MEMDIAG_AGENT_PYMALLOC_EVERY"
DEFAULT_INTERVAL_S = 0.5
HOLDERS_REQUEST = "holders-request.json"
_HERE = Path(__file__).resolve().parent

# --- /proc -------------------------------------------------------------------------

_STATUS_KEYS = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "RssShmem": "shmem"}


def read_status(text: str) -> dict[str, int]:
    """RSS and its kinds in bytes from /proc/<pid>/status text."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in _STATUS_KEYS:
            out[_STATUS_KEYS[key]] = int(rest.split()[0]) * 1024
    return out


# --- pymalloc ----------------------------------------------------------------------

_NUMBER = r"=\s*([\d,]+)\s*$"
_PYMALLOC_FIELDS = {
    "arenas": re.compile(r"^# arenas allocated current\s*" + _NUMBER),
    "used": re.compile(r"^# bytes in allocated blocks\s*" + _NUMBER),
    "available_blocks": re.compile(r"^# bytes in available blocks\s*" + _NUMBER),
    "unused_pools": re.compile(r"^\d+ unused pools \* \d+ bytes\s*" + _NUMBER),
}
# Every line shape `sys._debugmallocstats()` prints (CPython 3.8-3.12); anything else in
# the capture came from another thread and goes back to the real stderr.
_OWN_LINE = re.compile(
    r"^(\s*$|Small block threshold|class\s+size|-----|#|Total\s|arena map counts"
    r"|\s*\d+(\s+\d+){4}\s*$|\d+ unused pools|\d+ arenas \* \d+ bytes/arena"
    r"|\s*\d+ free .*bytes each\s*=)"
)


def parse_debugmallocstats(text: str) -> tuple[dict[str, int] | None, list[str]]:
    """pymalloc's figures from `sys._debugmallocstats()` output, and the foreign lines.

    None when the report has no arena section (PYTHONMALLOC=malloc, or a build
    without pymalloc). `arena_bytes` is the first `Total` line (arenas x arena size).
    """
    found: dict[str, int] = {}
    foreign: list[str] = []
    for line in text.splitlines():
        if not _OWN_LINE.match(line):
            foreign.append(line)
            continue
        for key, pattern in _PYMALLOC_FIELDS.items():
            if key not in found and (m := pattern.match(line)):
                found[key] = int(m.group(1).replace(",", ""))
        if line.startswith("Total") and "arena_bytes" not in found:
            found["arena_bytes"] = int(line.rsplit("=", 1)[1].strip().replace(",", ""))
    if "arenas" not in found or "used" not in found or "arena_bytes" not in found:
        return None, foreign
    found["free"] = found["arena_bytes"] - found["used"]
    return found, foreign


# Held while fd 2 points at the capture file, and around every fork (see start_from_env):
# a child forked inside that window would keep the capture file as its stderr.
_REDIRECT_LOCK = threading.Lock()


class _StderrCapture:
    """Points fd 2 at one reused anonymous in-memory file for the length of a call.

    The file is a memfd, not a `tempfile`: a child forked while another thread of the
    parent held `tempfile`'s module lock (its first call probes the temp folders) inherits
    that lock held by a thread it does not have, and the child's agent blocked on it
    forever (2 of 30 forks, seen with py-spy). The agent takes no lock but its own here.
    """

    def __init__(self) -> None:
        # Kept open for the process's life: one file reused by every call.
        self._fd = os.memfd_create("memdiag-agent-stderr", os.MFD_CLOEXEC)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def run(self, call: Any) -> str:
        fd = self._fd
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        with contextlib.suppress(Exception):
            sys.stderr.flush()  # what Python buffered so far belongs to the real stderr
        with _REDIRECT_LOCK:
            saved = os.dup(2)
            try:
                os.dup2(fd, 2)
                call()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")


# --- malloc ------------------------------------------------------------------------


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class _Malloc:
    """mallinfo2 (glibc >= 2.33), or jemalloc's mallctl when jemalloc is preloaded."""

    def __init__(self) -> None:
        self.kind = "unknown"
        self._glibc: Any = None
        self._mallctl: Any = None
        try:
            process = ctypes.CDLL(None)
        except OSError:
            return
        if hasattr(process, "mallctl"):
            # jemalloc (LD_PRELOAD): glibc's mallinfo2 would still answer, about glibc's
            # own near-empty heap, which would be a wrong answer.
            self.kind = "jemalloc"
            self._mallctl = process.mallctl
            self._mallctl.restype = ctypes.c_int
        elif hasattr(process, "mallinfo2"):
            self.kind = "glibc"
            self._glibc = process.mallinfo2
            self._glibc.restype = _MallInfo2
            self._glibc.argtypes = []

    def sample(self) -> dict[str, int] | None:
        if self._glibc is not None:
            m = self._glibc()
            return {
                "arena": m.arena,
                "in_use": m.uordblks,
                "free": m.fordblks,
                "mmapped": m.hblkhd,
                "mmapped_chunks": m.hblks,
                "keepcost": m.keepcost,
            }
        if self._mallctl is not None:
            return self._jemalloc()
        return None

    def _jemalloc(self) -> dict[str, int] | None:
        epoch = ctypes.c_uint64(1)
        size = ctypes.c_size_t(ctypes.sizeof(epoch))
        # Writing "epoch" refreshes jemalloc's cached statistics.
        self._mallctl(b"epoch", ctypes.byref(epoch), ctypes.byref(size), ctypes.byref(epoch), size)
        out = {}
        for name in ("allocated", "active", "resident", "mapped", "retained"):
            value = ctypes.c_size_t(0)
            size = ctypes.c_size_t(ctypes.sizeof(value))
            if self._mallctl(
                f"stats.{name}".encode(), ctypes.byref(value), ctypes.byref(size), None, 0
            ):
                return None  # a jemalloc built without statistics
            out[name] = value.value
        # The decomposition's names: in use by the program, and held but free.
        out["in_use"] = out["allocated"]
        out["free"] = max(0, out["resident"] - out["allocated"])
        out["mmapped"] = 0
        return out


# --- GC ----------------------------------------------------------------------------


class _GcTimer:
    """Collections and seconds per generation, from a `gc.callbacks` hook."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info.get("generation", 0)
        if 0 <= generation < 3 and self._started:
            self.collections[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._started
            self._started = 0.0

    def record(self) -> dict[str, list[float] | list[int]]:
        return {
            "collections": list(self.collections),
            "seconds": [round(s, 6) for s in self.seconds],
        }


# --- the agent ---------------------------------------------------------------------


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class Agent:
    """Samples this process into `<directory>/agent-<pid>.jsonl` on a daemon thread."""

    def __init__(self, directory: Path, interval_s: float, pymalloc_every: int = 1) -> None:
        self.directory = directory
        self.interval_s = interval_s
        self.pymalloc_every = max(1, pymalloc_every)
        self._malloc = _Malloc()
        self._gc = _GcTimer()
        gc.callbacks.append(self._gc)
        self._capture: _StderrCapture | None = None
        self._last_request: str | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="memdiag-agent", daemon=True)
        self._thread.start()

    def after_fork_in_child(self) -> None:
        """The sampling thread does not survive a fork: start the child's own."""
        if self._stopped.is_set():
            return  # stopped for an error in the parent: stay stopped
        # The parent's thread may have held the event's lock at the fork: a fresh one.
        self._stopped = threading.Event()
        if self._capture is not None:
            self._capture.close()  # the parent's file, inherited: the child makes its own
        self._capture = None
        self._last_request = None
        self.start()

    def sample(self, tick: int, cpu_s: float) -> dict[str, Any]:
        """One JSON line's content (see the module docstring)."""
        record: dict[str, Any] = {"t": round(time.time(), 3), "pid": os.getpid()}
        record.update(read_status(Path("/proc/self/status").read_text()))
        record["allocator"] = self._malloc.kind
        record["malloc"] = self._malloc.sample()
        record["pythonmalloc"] = os.environ.get("PYTHONMALLOC") or None
        record["pymalloc"] = self._pymalloc() if tick % self.pymalloc_every == 0 else None
        record["blocks"] = sys.getallocatedblocks()
        record["threads"] = len(os.listdir("/proc/self/task"))
        record["gc"] = self._gc.record()
        record["process_cpu_s"] = round(time.process_time(), 4)
        record["agent_cpu_s"] = round(time.thread_time() - cpu_s, 4)
        return record

    def _pymalloc(self) -> dict[str, int] | None:
        if self._capture is None:
            self._capture = _StderrCapture()
        text = self._capture.run(sys._debugmallocstats)
        figures, foreign = parse_debugmallocstats(text)
        if foreign:
            os.write(2, ("\n".join(foreign) + "\n").encode("utf-8", errors="replace"))
        return figures

    def _run(self) -> None:
        pid = os.getpid()
        cpu_s = time.thread_time()
        try:
            with (self.directory / f"agent-{pid}.jsonl").open("a", encoding="utf-8") as out:
                tick = 0
                start = time.monotonic()
                while True:
                    out.write(json.dumps(self.sample(tick, cpu_s), sort_keys=True) + "\n")
                    out.flush()
                    self._serve_holders(pid)
                    tick += 1
                    # A fixed grid, so a slow tick does not drift the rate.
                    wait = start + tick * self.interval_s - time.monotonic()
                    if self._stopped.wait(max(0.0, wait)) or os.getpid() != pid:
                        return
        except Exception as exc:  # never break the host: say it once and stop
            self._stopped.set()
            with contextlib.suppress(Exception):
                os.write(2, f"memdiag agent stopped in pid {pid}: {exc!r}\n".encode())

    def _serve_holders(self, pid: int) -> None:
        request_path = self.directory / HOLDERS_REQUEST
        try:
            request = json.loads(request_path.read_text(encoding="utf-8"))
            request_id = str(request["id"])
        except (OSError, ValueError, KeyError, TypeError):
            return  # none, or half written: the next tick reads it again
        if request_id == self._last_request:
            return
        self._last_request = request_id
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", request_id)
        started = time.perf_counter()
        try:
            spec = importlib.util.spec_from_file_location("holders", _HERE / "holders.py")
            if spec is None or spec.loader is None or not (_HERE / "holders.py").is_file():
                raise ImportError(f"no holders module beside {__file__}")
            module = sys.modules.get("holders")
            if module is None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules["holders"] = module
            result: dict[str, Any] = dict(module.find_holders(**dict(request.get("args") or {})))
            rss = read_status(Path("/proc/self/status").read_text()).get("rss")
            result.update(
                id=request_id,
                pid=pid,
                t=round(time.time(), 3),
                rss_bytes=rss,
                elapsed_s=round(time.perf_counter() - started, 4),
            )
        except Exception as exc:  # the request failed, not the agent
            result = {"id": request_id, "pid": pid, "error": f"{type(exc).__name__}: {exc}"}
        _write_json_atomic(self.directory / f"holders-{safe_id}-{pid}.json", result)


_AGENT: Agent | None = None


def _in_child(agent: Agent) -> Any:
    def rearm() -> None:
        _REDIRECT_LOCK.release()  # taken before the fork, copied into the child held
        agent.after_fork_in_child()

    return rearm


def start_from_env(environ: dict[str, str] | None = None) -> Agent | None:
    """Start the agent if `MEMDIAG_AGENT_DIR` is set (once per process); None if not."""
    global _AGENT
    env = os.environ if environ is None else environ
    directory = env.get(ENV_DIR)
    if not directory or _AGENT is not None:
        return _AGENT
    interval_s = float(env.get(ENV_INTERVAL) or DEFAULT_INTERVAL_S)
    if not interval_s > 0:
        raise ValueError(f"{ENV_INTERVAL}={interval_s}: must be > 0")
    every = int(env.get(ENV_PYMALLOC_EVERY) or 1)
    agent = Agent(Path(directory), interval_s, every)
    agent.start()
    os.register_at_fork(
        before=_REDIRECT_LOCK.acquire,
        after_in_parent=_REDIRECT_LOCK.release,
        after_in_child=_in_child(agent),
    )
    _AGENT = agent
    return agent
