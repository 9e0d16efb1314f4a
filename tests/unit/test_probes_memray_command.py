"""memray run argv and environment built from the options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from profiling.probes.memray_capture import (
    MemrayOptions,
    capture_files,
    memray_command,
    memray_env,
)


def test_default_command_is_quiet_and_forced() -> None:
    cmd = memray_command(["-m", "reference_server", "--port", "0"], Path("/r/m.bin"))
    assert cmd[:4] == [sys.executable, "-m", "memray", "run"]
    assert cmd[4:8] == ["-q", "-f", "-o", "/r/m.bin"]
    assert cmd[-4:] == ["-m", "reference_server", "--port", "0"]


def test_every_option_maps_to_its_flag() -> None:
    opts = MemrayOptions(
        native=True, trace_python_allocators=True, aggregate=True, follow_fork=True
    )
    cmd = memray_command(["app.py"], Path("m.bin"), opts)
    for flag in ("--native", "--trace-python-allocators", "--aggregate", "--follow-fork"):
        assert flag in cmd
    assert cmd.index("--follow-fork") < cmd.index("app.py")
    with pytest.raises(ValueError):
        memray_command([], Path("m.bin"))


def test_env_and_capture_files(tmp_path: Path) -> None:
    assert memray_env(MemrayOptions(python_malloc=True), {})["PYTHONMALLOC"] == "malloc"
    assert "PYTHONMALLOC" not in memray_env(MemrayOptions(), {})
    out = tmp_path / "m.bin"
    for name in ("m.bin", "m.bin.4242", "m.bin.4243", "m-stats.json", "other.bin"):
        (tmp_path / name).write_text("")
    assert [p.name for p in capture_files(out)] == ["m.bin", "m.bin.4242", "m.bin.4243"]
