"""Sampler construction rules and the CSV round trip, on this very process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from profiling.probes.sampler import COLUMNS, Sampler, Target, load_timeline


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unique"):
        Sampler([Target("a", 1), Target("a", 2)], Path("x.csv"))
    with pytest.raises(ValueError, match="interval_s"):
        Sampler([Target("a", 1)], Path("x.csv"), interval_s=0)


def test_round_trip_phases_and_detail(tmp_path: Path) -> None:
    csv = tmp_path / "deep" / "rss.csv"
    sampler = Sampler([Target("self", os.getpid())], csv, interval_s=0.05, detail=True)
    sampler.set_phase("warmup")  # before start: only labels what follows
    with sampler:
        time.sleep(0.15)
        sampler.set_phase("steady", reset_peak=True)
        time.sleep(0.15)
    sampler.stop()  # a second stop is harmless
    rows = load_timeline(csv)
    assert rows == sampler.samples("self")
    assert {r.phase for r in rows} == {"warmup", "steady"}
    assert [r.t_s for r in rows] == sorted(r.t_s for r in rows)
    assert all(r.uss_bytes is not None and r.pss_bytes is not None for r in rows)
    assert sampler.ticks == len(rows) >= 4
    assert sampler.self_cpu_s >= 0


def test_load_timeline_rejects_other_csv(tmp_path: Path) -> None:
    other = tmp_path / "stats.csv"
    other.write_text("Type,Name\nGET,/x\n")
    with pytest.raises(ValueError, match="not a sampler timeline"):
        load_timeline(other)
    assert COLUMNS[0] == "t_s"


def test_a_timeline_from_before_the_connections_column_loads(tmp_path: Path) -> None:
    old = tmp_path / "rss.csv"
    header = [c for c in COLUMNS if c != "connections"]
    row = ["1.5", "server", "steady", "42", "100", "200", "60", "40", "0", "0.5", "1", "", ""]
    old.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    (sample,) = load_timeline(old)
    assert sample.connections is None
    assert (sample.rss_bytes, sample.peak_rss_bytes, sample.uss_bytes) == (100, 200, None)


def test_connections_column_round_trips(tmp_path: Path) -> None:
    csv = tmp_path / "rss.csv"
    with Sampler([Target("self", os.getpid(), connections=True)], csv, interval_s=0.05):
        time.sleep(0.1)
    rows = load_timeline(csv)
    assert "connections" in COLUMNS
    assert all(r.connections == 0 for r in rows)  # this process listens on nothing
