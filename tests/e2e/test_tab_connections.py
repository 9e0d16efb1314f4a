"""The tab model end to end: a real `memdiag measure` of the storm against lean, on the
real embedded DB, records the server's open connections, about one per tab.

Each Locust user is a browser tab on its own keep-alive connection, and lean answers a
poll long before the tab's next one is due, so every tab keeps one connection: the
sampler (from /proc) sees as many open client connections as there are tabs, the load
generator says it opened about that many, and the run knows when RSS settled.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MEMDIAG = [sys.executable, "-m", "profiling"]

# Asserts a valid run (the served rate) and about one connection per tab (lean answering
# before a tab's next poll): needs the CPU to itself.
pytestmark = pytest.mark.serial
TABS = 6


def test_storm_tabs_hold_one_connection_each(tmp_path: Path) -> None:
    out = tmp_path / "tabs"
    proc = subprocess.run(
        [*MEMDIAG, "measure", "--mode", "lean", "--scenario", "polling-storm",
         "--rate", "3", "--users", str(TABS), "--duration", "6", "--warmup", "2",
         "--cooldown", "1", "--no-html", "-o", str(out),
         "-O", "storm_tasks=2", "-O", "segments=120", "-O", "initial_segments=100",
         "-O", "segments_per_second=0.5"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    (run_json,) = out.glob("runs/*/run.json")
    run = json.loads(run_json.read_text())
    assert run["valid"] is True, run["invalid_reasons"]
    work = run["work"]
    # A tab polls every 6 / 3 = 2 s and lean answers in milliseconds: one connection each.
    # One more may show at the phase's edge: memdiag's own /metrics scrape at steady end.
    assert work["tabs"] == TABS
    assert work["connections_max"] in (TABS, TABS + 1)
    assert TABS - 0.5 <= work["connections_mean"] <= TABS + 0.5
    (load_json,) = out.glob("runs/*/load.json")
    load = json.loads(load_json.read_text())["work"]
    assert load["connections"]["tabs"] == TABS
    assert TABS <= load["connections"]["opened"] <= TABS + 1
    assert run["rss_settled"] is True
    assert 0 <= run["settled_after_s"] <= 3
    assert run["memory"]["server"]["growth_mib_per_min"] is not None
    report = (out / "report.md").read_text()
    assert "open connections (max / mean)" in report
