"""A real `memdiag ablate --quick` with two switches: real servers, the real embedded DB,
real Locust, short phases. Nothing asserts a measured figure; the claims table must be
complete and well-formed, and every run valid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from profiling.verdict.claims import VERDICTS

MEMDIAG = [sys.executable, "-m", "profiling"]


@pytest.mark.slow
@pytest.mark.serial  # asserts every run valid (each served its rate): needs the CPU to itself
@pytest.mark.timeout(600)
def test_ablate_quick_writes_a_valid_claims_table(tmp_path: Path) -> None:
    out = tmp_path / "ablate"
    proc = subprocess.run(
        [*MEMDIAG, "ablate", "--quick", "--base", "memory-first",
         "--switches", "poll_source,copy_on_merge",
         # 1 s of warm-up and none to cool down: the warm-up then waits for the tasks'
         # readiness (a state, not a time), and nothing here reads the cool-down.
         "--duration", "5", "--warmup", "1", "--cooldown", "0", "-o", str(out),
         # Tasks of 300 segments: every design keeps up with 10 polls/s on any machine
         # this runs on (db-polling at the default 1,000 did not, on a slow one), so
         # every run is valid and the test checks the plumbing, not the machine.
         "-O", "initial_segments=300", "-O", "segments=400"],
        capture_output=True, text=True, timeout=580,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert doc["kind"] == "memdiag-ablation" and doc["valid"] is True, doc["invalid_reasons"]
    primary = [c for c in doc["claims"] if c["primary"]]
    assert [c["key"] for c in primary] == ["poll_source", "copy_on_merge"]
    for claim in primary:
        assert claim["verdict"] in VERDICTS and claim["verdict"] != "not measured"
        assert (claim["n_with"], claim["n_without"]) == (2, 2)
        assert claim["scenario"] == "polling_storm" and claim["expected"]
    # Each judged against the configuration that has the change: the base, and for
    # change 3 memory-first checkpointing every second (where merges happen).
    assert [c["with_change"] for c in primary] == [
        "memory-first", "memory-first:checkpoint_interval_s=1"
    ]  # fmt: skip
    # One schedule: the base, the checkpointing reference and the two variants,
    # interleaved A B C D A B C D.
    runs = doc["scenarios"]["polling_storm"]["runs"]
    assert [r["configuration"] for r in runs[:4]] == [r["configuration"] for r in runs[4:]]
    assert len(runs) == 8
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Claims" in md and "| 3 | Merging a status update" in md
    assert "data:image/png;base64," in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "ablation.json").is_file()
    assert "poll_source" in proc.stdout and "Report:" in proc.stdout
