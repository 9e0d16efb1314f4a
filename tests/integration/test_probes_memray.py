"""memray capture of a plain workload: stats JSON, three flamegraphs, a summary that agrees
with tracemalloc's peak for the same workload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiling.errors import HarnessError
from profiling.probes.memray_capture import (
    MemrayOptions,
    memray_command,
    memray_env,
    render_artifacts,
    summarize_capture,
)

WORKLOAD = Path(__file__).parent / "probe_apps" / "workload.py"


def tracemalloc_peak() -> int:
    env = {**os.environ, "MEMDIAG_TRACEMALLOC": "1"}
    out = subprocess.run(
        [sys.executable, str(WORKLOAD)], env=env, capture_output=True, text=True, check=True
    ).stdout
    word, value = out.split()
    assert word == "tracemalloc_peak_bytes"
    return int(value)


def capture(tmp_path: Path, options: MemrayOptions) -> Path:
    out = tmp_path / "memray.bin"
    cmd = memray_command([str(WORKLOAD)], out, options)
    proc = subprocess.run(cmd, env=memray_env(options), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # -q: stdout stays the program's own
    return out


@pytest.mark.slow
def test_capture_artifacts_and_peak_agree_with_tracemalloc(tmp_path: Path) -> None:
    out = capture(tmp_path, MemrayOptions(trace_python_allocators=True))
    artifacts = render_artifacts(out, tmp_path / "report")
    assert artifacts.skipped == ()
    assert artifacts.stats_json is not None and artifacts.temporal_html is not None
    stats = json.loads(artifacts.stats_json.read_text())
    assert stats["total_num_allocations"] > 0
    for html in (artifacts.peak_html, artifacts.leaks_html, artifacts.temporal_html):
        assert html.stat().st_size > 10_000
        assert "<html" in html.read_text()[:5000].lower()

    summary = summarize_capture(out, top=5)
    assert summary.trace_python_allocators and not summary.aggregated
    assert summary.allocation_records >= stats["total_num_allocations"]
    assert "workload.py:" in summary.top_sites[0].site
    peak_tm = tracemalloc_peak()
    assert abs(summary.peak_memory_bytes - peak_tm) <= 0.10 * peak_tm, (
        summary.peak_memory_bytes,
        peak_tm,
    )
    assert json.loads(summary.to_json())["schema_version"] == 1


def test_aggregated_capture_skips_what_it_cannot_render(tmp_path: Path) -> None:
    out = capture(tmp_path, MemrayOptions(aggregate=True))
    artifacts = render_artifacts(out, tmp_path)
    assert artifacts.stats_json is None and artifacts.temporal_html is None
    assert len(artifacts.skipped) == 2
    assert artifacts.peak_html.is_file() and artifacts.leaks_html.is_file()
    assert summarize_capture(out).aggregated


def test_missing_capture_is_a_harness_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no memray capture"):
        render_artifacts(tmp_path / "nope.bin", tmp_path)
