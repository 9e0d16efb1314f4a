"""`malloc_trim(0)` once a task has ended: the `malloc_trim` switch (a cause the fix
report missed).

glibc keeps freed memory in its arenas; `malloc_trim(0)` hands the free pages at the top
and inside every arena back to the OS. It is looked up once through ctypes. Where there
is nothing to call (musl, or jemalloc preloaded: then glibc's malloc is not the one in
use, and trimming its empty arenas would only cost time) the first call logs why and
every call does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
_lock = threading.Lock()
_resolved = False
_trim: Callable[[int], int] | None = None


def _jemalloc_loaded() -> bool:
    try:
        return "libjemalloc" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def _resolve() -> Callable[[int], int] | None:
    if _jemalloc_loaded():
        log.warning("malloc_trim: jemalloc is preloaded, glibc's malloc is not in use; skipped")
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError as exc:
        log.warning("malloc_trim: no C library to load (%s); skipped", exc)
        return None
    fn = getattr(libc, "malloc_trim", None)
    if fn is None:
        log.warning("malloc_trim: this C library has no malloc_trim (not glibc); skipped")
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


def trim() -> bool | None:
    """`malloc_trim(0)`: True if glibc returned memory to the OS, False if it had none
    to return, None where there is no malloc_trim to call."""
    global _resolved, _trim
    with _lock:
        if not _resolved:
            _trim, _resolved = _resolve(), True
    return None if _trim is None else bool(_trim(0))
