"""The stand-alone reproduction in examples/keepalive_body/, run as a user would run it.

It is the evidence behind the reference server's `release_body_after_send` switch: with
plain aiohttp, every idle keep-alive connection holds its last reply body (held by the
local `resp` of `RequestHandler.start`), and a handler that writes through a
`StreamResponse` holds none. Real server processes, real connections.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPRO = ROOT / "examples" / "keepalive_body" / "repro.py"
CONNECTIONS, BODY_KIB = 20, 512


def test_each_idle_connection_holds_one_body_unless_the_handler_streams_it() -> None:
    out = subprocess.run(
        [sys.executable, str(REPRO), "--connections", str(CONNECTIONS), "--body-kib",
         str(BODY_KIB), "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    kept, streamed = json.loads(out.stdout)
    assert (kept["reply"], streamed["reply"]) == ("Response", "StreamResponse")
    bodies_bytes = CONNECTIONS * BODY_KIB * 1024
    assert kept["bodies_alive"] == CONNECTIONS
    [(holder, count)] = kept["held_by"].items()
    assert count == CONNECTIONS
    assert "aiohttp.web_response.Response" in holder
    assert "local `resp` of coroutine RequestHandler.start" in holder
    assert kept["rss_growth_bytes"] >= 0.8 * bodies_bytes
    assert streamed["bodies_alive"] == 0
    assert streamed["rss_growth_bytes"] < 0.2 * bodies_bytes


def test_bad_input_is_one_line_and_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, str(REPRO), "--connections", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--connections and --body-kib must be at least 1" in out.stderr
