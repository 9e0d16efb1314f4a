"""A tracemalloc diff of a server that retains memory per request names the retaining line.

The server is a real process (probe_apps/retainer_app.py) with the real /debug routes;
the snapshots are taken through the admin client and diffed offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from profiling.errors import HarnessError
from profiling.probes import heapdiff
from profiling.probes.debugclient import DebugClient

APPS = Path(__file__).parent / "probe_apps"
APP = APPS / "retainer_app.py"
TOKEN = "t0ken"
REQUESTS = 80


def retaining_line() -> int:
    for number, line in enumerate(APP.read_text().splitlines(), 1):
        if line.rstrip().endswith("# RETAINS"):
            return number
    raise AssertionError("marker missing from retainer_app.py")


@pytest.fixture
def server() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(APP), TOKEN], stdout=subprocess.PIPE, text=True)
    with proc:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield url
        proc.terminate()


def hit(url: str, n: int) -> None:
    for _ in range(n):
        with urllib.request.urlopen(url + "work", timeout=10) as resp:
            resp.read()


def test_diff_names_retaining_line_in_top_three(server: str, tmp_path: Path) -> None:
    client = DebugClient(server, TOKEN)
    client.tracemalloc_start(frames=15)
    hit(server, 5)  # warm caches (aiohttp, json) before the baseline
    client.snapshot(tmp_path / "before.tracemalloc")
    hit(server, REQUESTS)
    client.snapshot(tmp_path / "after.tracemalloc")

    out_json, out_txt = tmp_path / "diff.json", tmp_path / "diff.txt"
    code = heapdiff.main(
        [
            str(tmp_path / "before.tracemalloc"),
            str(tmp_path / "after.tracemalloc"),
            "--include-path",
            str(APPS),
            "--top",
            "5",
            "--json",
            str(out_json),
            "--text",
            str(out_txt),
        ]
    )
    assert code == 0
    data = json.loads(out_json.read_text())
    assert data["schema_version"] == 1
    top3 = [site["site"] for site in data["sites"][:3]]
    assert f"{APP}:{retaining_line()}" in top3, top3
    # REQUESTS records of 200 strings of about 60 bytes each were kept.
    best = next(s for s in data["sites"] if s["site"] == f"{APP}:{retaining_line()}")
    assert best["size_diff_bytes"] > REQUESTS * 200 * 50
    assert f"retainer_app.py:{retaining_line()}" in out_txt.read_text()

    grouped = heapdiff.diff_files(
        tmp_path / "before.tracemalloc",
        tmp_path / "after.tracemalloc",
        heapdiff.include_patterns(paths=[APPS]),
        group="site",
    )
    assert grouped.sites[0].site == f"{APP}:{retaining_line()}"

    memory = client.memory()
    assert memory["tracemalloc"]["tracing"] is True
    assert memory["tracemalloc"]["peak_bytes"] >= memory["tracemalloc"]["current_bytes"]


def test_wrong_token_is_a_harness_error(server: str) -> None:
    with pytest.raises(HarnessError, match="404"):
        DebugClient(server, "not-it").memory()


def test_heapdiff_cli_rejects_missing_file(tmp_path: Path) -> None:
    assert heapdiff.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
