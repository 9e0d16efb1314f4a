"""A small blocking client for the server's admin-only `/debug/*` routes.

    client = DebugClient("http://127.0.0.1:41234/", admin_token)
    client.tracemalloc_start(frames=25)
    client.snapshot(run_dir / "before.tracemalloc")
    ...
    client.snapshot(run_dir / "after.tracemalloc")
    figures = client.memory()          # RSS, VmHWM, heap, arenas, tracemalloc, gc
    trim = client.malloc_trim()        # RSS before/after malloc_trim(0)

It speaks HTTP only (stdlib urllib), so the probes stay independent of the server's
code. The server writes snapshot files itself: give it a path it can write, which on
one machine is simply the run folder. A 404 means the admin token is wrong or the
server runs without one.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from profiling.errors import HarnessError


class DebugClient:
    def __init__(self, base_url: str, admin_token: str, *, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.admin_token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                result: dict[str, Any] = json.loads(resp.read())
                return result
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise HarnessError(
                    f"{method} {path}: 404; start the server with --admin-token and pass "
                    "the same token"
                ) from exc
            detail = exc.read().decode(errors="replace")[:200]
            raise HarnessError(f"{method} {path}: HTTP {exc.code} {detail}") from exc
        except OSError as exc:
            raise HarnessError(f"{method} {path}: {exc}; is the server running?") from exc

    def tracemalloc_start(self, frames: int = 25) -> dict[str, Any]:
        return self._call("POST", "/debug/tracemalloc/start", {"frames": frames})

    def tracemalloc_stop(self) -> dict[str, Any]:
        return self._call("POST", "/debug/tracemalloc/stop", {})

    def snapshot(self, path: Path) -> dict[str, Any]:
        return self._call(
            "POST", "/debug/tracemalloc/snapshot", {"path": str(Path(path).resolve())}
        )

    def reset_peak(self) -> dict[str, Any]:
        return self._call("POST", "/debug/tracemalloc/reset-peak", {})

    def memory(self) -> dict[str, Any]:
        return self._call("GET", "/debug/memory")

    def malloc_trim(self) -> dict[str, Any]:
        return self._call("POST", "/debug/malloc-trim", {})


def request_peaks(memory: dict[str, Any], kind: str) -> tuple[tuple[int, ...], int] | None:
    """The per-request allocation peaks of `kind` ("list") in a /debug/memory reply and how
    many requests overlapped another (so have none), or None when the server reported
    none (tracemalloc off, an older server, no such request)."""
    found = (memory.get("tracemalloc") or {}).get("request_peaks")
    entry = found.get(kind) if isinstance(found, dict) else None
    if not isinstance(entry, dict):
        return None
    peaks = tuple(v for v in entry.get("peaks_bytes") or () if type(v) is int)
    overlapped = entry.get("overlapped")
    return peaks, overlapped if type(overlapped) is int else 0
