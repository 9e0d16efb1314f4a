"""Start-up environments that swap or tune the C allocator, so runs can compare allocators.

    env = allocator_env(AllocatorChoice(kind="jemalloc"))        # LD_PRELOAD libjemalloc
    env = allocator_env(AllocatorChoice(kind="glibc", arena_max=2))  # MALLOC_ARENA_MAX=2

Why: glibc keeps a malloc arena per thread (up to 8 x cores), and memory freed in an
arena whose top is still in use is never returned to the OS. motor decodes replies in
a thread pool, so a server can hold far more RSS than its heap. Capping the arenas or
preloading jemalloc (Debian/Ubuntu package `libjemalloc2`) shows how much of the
"RSS minus heap" gap is the allocator's.

The jemalloc library is looked up at run time (`find_jemalloc`), never assumed.

Tuning items (`parse_tuning`) set one knob each, beside the allocator choice:
`mmap_threshold=N` and `trim_threshold=N` fix glibc's MALLOC_MMAP_THRESHOLD_ /
MALLOC_TRIM_THRESHOLD_ to N bytes (either one also switches off glibc's dynamic mmap
threshold, which otherwise rises to the size of the largest freed mmapped block, up to
32 MiB, so that 1 MiB reply bodies move from mmap, returned on free, into the heap,
which keeps them); `pymalloc=off` sets PYTHONMALLOC=malloc, so Python's small objects
go to malloc too and every byte shows in malloc's own statistics.
"""

from __future__ import annotations

import ctypes.util
import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from profiling.errors import HarnessError

Kind = Literal["glibc", "jemalloc"]
JEMALLOC_MISSING = (
    "jemalloc not found: install it (apt-get install libjemalloc2) or set "
    "MEMDIAG_JEMALLOC=/path/to/libjemalloc.so.2"
)
_SEARCH = (
    "/usr/lib/*-linux-gnu/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
    "/usr/local/lib/libjemalloc.so*",
)


@dataclass(frozen=True, slots=True)
class AllocatorChoice:
    kind: Kind = "glibc"
    arena_max: int | None = None  # MALLOC_ARENA_MAX for glibc; None keeps glibc's default

    @property
    def name(self) -> str:
        """A label for reports: `glibc`, `glibc-arenas2`, `jemalloc`."""
        if self.kind == "glibc" and self.arena_max is not None:
            return f"glibc-arenas{self.arena_max}"
        return self.kind


def parse_choice(text: str) -> AllocatorChoice:
    """`glibc`, `jemalloc` or `arenas=N` (glibc with MALLOC_ARENA_MAX=N)."""
    value = text.strip().lower()
    if value in ("glibc", "jemalloc"):
        return AllocatorChoice(kind=value)  # type: ignore[arg-type]
    if value.startswith("arenas="):
        number = value.removeprefix("arenas=")
        if number.isdigit() and int(number) > 0:
            return AllocatorChoice(kind="glibc", arena_max=int(number))
    raise ValueError(f"unknown allocator {text!r}: use glibc, jemalloc or arenas=N (N >= 1)")


TUNING_ENV = {
    "mmap_threshold": "MALLOC_MMAP_THRESHOLD_",
    "trim_threshold": "MALLOC_TRIM_THRESHOLD_",
    "pymalloc": "PYTHONMALLOC",
}
TUNING_HELP = "mmap_threshold=BYTES, trim_threshold=BYTES, pymalloc=off"


def parse_tuning(text: str) -> tuple[str, str] | None:
    """`mmap_threshold=131072` -> ("MALLOC_MMAP_THRESHOLD_", "131072"); None when `text`
    is not a tuning item at all; ValueError when it is one with a bad value."""
    name, sep, value = text.strip().lower().partition("=")
    if not sep or name not in TUNING_ENV:
        return None
    if name == "pymalloc":
        if value != "off":
            raise ValueError(f"pymalloc={value!r}: the one choice is pymalloc=off")
        return TUNING_ENV[name], "malloc"
    if not value.isdigit():
        raise ValueError(f"{name}={value!r}: give a number of bytes, e.g. {name}=131072")
    return TUNING_ENV[name], str(int(value))


def tuning_env(items: tuple[str, ...], base: Mapping[str, str]) -> dict[str, str]:
    """`base` with each tuning item's variable set (items already checked)."""
    env = dict(base)
    for item in items:
        found = parse_tuning(item)
        if found is not None:
            env[found[0]] = found[1]
    return env


def find_jemalloc(environ: Mapping[str, str] | None = None) -> Path:
    """The jemalloc shared library: $MEMDIAG_JEMALLOC, a Debian/Fedora path, or ldconfig."""
    env = os.environ if environ is None else environ
    if explicit := env.get("MEMDIAG_JEMALLOC"):
        path = Path(explicit)
        if not path.is_file():
            raise HarnessError(f"MEMDIAG_JEMALLOC={explicit} is not a file; {JEMALLOC_MISSING}")
        return path
    for pattern in _SEARCH:
        for hit in sorted(glob.glob(pattern)):
            return Path(hit)
    name = ctypes.util.find_library("jemalloc")
    if name:
        for hit in sorted(glob.glob(f"/usr/lib*/**/{name}", recursive=True)):
            return Path(hit)
    raise HarnessError(JEMALLOC_MISSING)


def allocator_env(choice: AllocatorChoice, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) with the allocator settings of `choice` applied."""
    env = dict(os.environ if base is None else base)
    if choice.kind == "jemalloc":
        lib = str(find_jemalloc(env))
        # Keep any other preload (sanitizers, memray's own is not preloaded) after ours.
        env["LD_PRELOAD"] = " ".join(p for p in (lib, env.get("LD_PRELOAD", "")) if p)
        env.pop("MALLOC_ARENA_MAX", None)
    elif choice.arena_max is not None:
        env["MALLOC_ARENA_MAX"] = str(choice.arena_max)
    return env


def active_allocator(pid: int) -> str:
    """`jemalloc` if the process has libjemalloc mapped, else `glibc` (from /proc maps)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError as exc:
        raise HarnessError(f"cannot read /proc/{pid}/maps: {exc}") from exc
    return "jemalloc" if "libjemalloc" in maps else "glibc"
