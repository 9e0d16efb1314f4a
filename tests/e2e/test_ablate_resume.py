"""`memdiag ablate --resume DIR` on a real folder: a real two-run ablation (real servers,
the real embedded DB, real Locust), one of its runs then left as an interrupted run
leaves it; the resume measures that run alone, keeps the other byte for byte, fixes the
storm's task size to the one the folder polled, and refuses another plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MEMDIAG = [sys.executable, "-m", "profiling"]
# Two runs of short phases: memory-first and its poll_source variant, once each.
ABLATE = [
    *MEMDIAG, "ablate", "--quick", "--switches", "poll_source", "--repeat", "1",
    "--duration", "2", "--warmup", "1", "--cooldown", "0", "-O", "segments=150",
]  # fmt: skip


def ablate(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ABLATE, *extra], capture_output=True, text=True, timeout=280, check=False
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_resume_measures_only_what_the_folder_lacks(tmp_path: Path) -> None:
    out = tmp_path / "abl"
    first = ablate("-O", "initial_segments=100", "-o", str(out))
    assert first.returncode != 2, first.stderr
    kept, redone = sorted((out / "runs").iterdir())
    kept_json = (kept / "run.json").read_bytes()
    # What an interrupted run leaves: its folder, partial files, no run.json.
    (redone / "run.json").unlink()
    (redone / "INTERRUPTED").write_text("")

    other = ablate("--switches", "copy_on_merge", "--resume", str(out))
    assert other.returncode == 2
    assert "planned with other switches" in other.stderr.strip().splitlines()[-1]
    both = ablate("--resume", str(out), "-o", str(tmp_path / "x"))
    assert both.returncode == 2 and "drop -o" in both.stderr
    assert not (redone / "run.json").exists() and (redone / "INTERRUPTED").exists()

    # No -O initial_segments: the folder's 100 is kept, not a size fitted today.
    resumed = ablate("--resume", str(out))
    assert resumed.returncode != 2, resumed.stderr
    assert "100-segment tasks" in resumed.stderr
    assert (kept / "run.json").read_bytes() == kept_json
    assert not (redone / "INTERRUPTED").exists()
    record = json.loads((redone / "run.json").read_text())
    assert record["configuration"] == "memory-first:poll_source=db,checkpoint_interval_s=1"
    assert record["scenario"]["params"]["initial_segments"] == 100
    summary = json.loads((out / "summary.json").read_text())
    runs = summary["scenarios"]["polling_storm"]["runs"]
    assert len(runs) == 2
    assert "Report:" in resumed.stdout
