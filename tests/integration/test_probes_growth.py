"""The fitted growth slope reads a known leak rate within 15 % and a flat process as flat.

Both processes are sampled by one sampler (two labels), which also shows that targets
are kept apart in one timeline.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from profiling.probes.sampler import Sampler, Target, load_timeline
from profiling.probes.summary import summarize_all

APPS = Path(__file__).parent / "probe_apps"
LEAK_MIB_PER_S = 4.0
RUN_S = 7.0


def start(rate: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(APPS / "leaker.py"), str(rate)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_growth_slope_of_leaking_and_flat_process(tmp_path: Path) -> None:
    leaky, flat = start(LEAK_MIB_PER_S), start(0.0)
    try:
        csv = tmp_path / "rss.csv"
        targets = [Target("leaky", leaky.pid), Target("flat", flat.pid)]
        with Sampler(targets, csv, interval_s=0.1) as sampler:
            sampler.set_phase("warmup")
            time.sleep(1.0)
            sampler.set_phase("steady")
            time.sleep(RUN_S - 1.0)
    finally:
        for proc in (leaky, flat):
            proc.communicate("")  # closing stdin ends the leaker
    result = summarize_all(load_timeline(csv), phase="steady")
    expected = LEAK_MIB_PER_S * 60
    leaky_growth = result["leaky"].growth_mib_per_min
    flat_growth = result["flat"].growth_mib_per_min
    assert leaky_growth is not None and flat_growth is not None
    assert abs(leaky_growth - expected) <= 0.15 * expected, leaky_growth
    assert abs(flat_growth) <= 0.5, flat_growth
    assert result["leaky"].n_samples >= 20
    print(f"leaky {leaky_growth:.1f} MiB/min (expected {expected:.0f}), flat {flat_growth:+.3f}")
