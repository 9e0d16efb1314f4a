"""A sampling profile of a running server under load, with py-spy, summed per function.

`record(pid, seconds, out)` runs `py-spy record --format raw` (collapsed stacks: one
line per distinct stack, frames joined by `;`, then the sample count) on a process
from outside, so the server needs no change to be profiled; `top_functions(text)` sums
those stacks per function, both inclusive (the function anywhere on the stack) and
self (the function at the leaf), as shares of the samples. py-spy is not a dependency
of memdiag: `pip install py-spy` (it samples another process, so it needs root or
ptrace permission).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from profiling.errors import HarnessError, UsageError

# "function (path/file.py:123)" or "function (path/file.py)" with --nolineno
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True, slots=True)
class FunctionCost:
    name: str  # "function (file)"
    inclusive: float  # share of samples with it anywhere on the stack
    self_share: float  # share of samples with it at the leaf


def start_record(pid: int, seconds: float, out: Path, rate: int = 250) -> subprocess.Popen[str]:
    """Start py-spy on `pid` for `seconds`; wait on the returned process."""
    if shutil.which("py-spy") is None:
        raise UsageError("profiling needs py-spy: pip install py-spy")
    argv = ["py-spy", "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    argv += ["--rate", str(rate), "--format", "raw", "--nolineno", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_record(proc: subprocess.Popen[str], timeout_s: float) -> None:
    _, err = proc.communicate(timeout=timeout_s)
    if proc.returncode != 0:
        raise HarnessError(f"py-spy exited {proc.returncode}: {err.strip()[-300:]}")


def _frame_name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip()
    return f"{m['func']} ({m['file']})"


def top_functions(
    collapsed: str, limit: int = 25, *, by: str = "inclusive"
) -> tuple[int, list[FunctionCost]]:
    """(samples, the `limit` costliest functions by `by`: "inclusive" or "self")."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        leaf[frames[-1]] += count
    if total == 0:
        return 0, []
    rows = [FunctionCost(name, inclusive[name] / total, leaf[name] / total) for name in inclusive]
    rows.sort(key=lambda r: r.inclusive if by == "inclusive" else r.self_share, reverse=True)
    return total, rows[:limit]


def render_top(total: int, rows: list[FunctionCost]) -> str:
    lines = [f"{total} samples", "| inclusive | self | function |", "|---:|---:|---|"]
    lines += [f"| {r.inclusive:.1%} | {r.self_share:.1%} | `{r.name}` |" for r in rows]
    return "\n".join(lines)
