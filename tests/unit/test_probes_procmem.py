"""Parsing /proc text, and reading this very process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiling.probes import procmem


def test_parse_status_in_bytes() -> None:
    text = (
        "Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"
        "RssAnon:\t 512 kB\nRssFile:\t 500 kB\nRssShmem:\t 12 kB\n"
    )
    assert procmem.parse_status(text) == {
        "rss_bytes": 1024 * 1024,
        "peak_rss_bytes": 2048 * 1024,
        "rss_anon_bytes": 512 * 1024,
        "rss_file_bytes": 500 * 1024,
        "rss_shmem_bytes": 12 * 1024,
    }


def test_parse_stat_with_awkward_command_name() -> None:
    # comm may contain spaces and ')' -- fields 14/15 (utime, stime) must still be found
    fields = ["S"] + ["0"] * 10 + ["250", "50"] + ["0"] * 30
    text = f"1234 (we ird) (name) {' '.join(fields)}\n"
    assert procmem.parse_stat_cpu_s(text) == pytest.approx(300 / os.sysconf("SC_CLK_TCK"))


def test_parse_smaps_rollup() -> None:
    text = (
        "00-ff ---p 0 0:0 0 [rollup]\nRss: 100 kB\nPss: 60 kB\n"
        "Private_Clean: 10 kB\nPrivate_Dirty: 30 kB\n"
    )
    assert procmem.parse_smaps_rollup(text) == (40 * 1024, 60 * 1024)


def test_read_self_and_reset_peak() -> None:
    big = bytearray(b"\x01") * (64 << 20)
    del big
    before = procmem.read_mem(os.getpid())
    assert before.peak_rss_bytes - before.rss_bytes >= 60 << 20
    procmem.reset_peak(os.getpid())
    after = procmem.read_mem(os.getpid(), detail=True)
    assert after.peak_rss_bytes - after.rss_bytes < 8 << 20
    assert after.uss_bytes is not None and 0 < after.uss_bytes <= after.rss_bytes
    assert after.cpu_s > 0


def test_an_exited_child_not_yet_reaped_is_gone() -> None:
    # A server a test started and that crashed stays in /proc as a zombie until its
    # parent waits for it: reading it must say "gone", not report 0 bytes of RSS.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        status = Path(f"/proc/{child.pid}/status")
        while "\nState:\tZ" not in status.read_text():
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        with pytest.raises(procmem.ProbeError, match="process gone"):
            procmem.read_mem(child.pid)
    finally:
        child.wait(10)
