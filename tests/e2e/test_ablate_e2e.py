"""A real `memdiag ablate --quick` with two switches: real servers, the real embedded DB,
real Locust, short phases. Nothing asserts a measured figure; the claims table must be
complete and well-formed, and every run valid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from profiling.claims import VERDICTS

MEMDIAG = [sys.executable, "-m", "profiling"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ablate_quick_writes_a_valid_claims_table(tmp_path: Path) -> None:
    out = tmp_path / "ablate"
    proc = subprocess.run(
        [*MEMDIAG, "ablate", "--quick", "--base", "memory-first",
         "--switches", "poll_source,copy_on_merge",
         "--duration", "5", "--warmup", "3", "--cooldown", "1", "-o", str(out)],
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
        assert claim["with_change"] == "memory-first"
    # One schedule: the base and the two variants, interleaved A B C A B C.
    runs = doc["scenarios"]["polling_storm"]["runs"]
    assert [r["configuration"] for r in runs[:3]] == [r["configuration"] for r in runs[3:]]
    assert len(runs) == 6
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Claims" in md and "| 3 | Merging a status update" in md
    assert "data:image/png;base64," in (out / "report.html").read_text(encoding="utf-8")
    assert (out / "ablation.json").is_file()
    assert "poll_source" in proc.stdout and "Report:" in proc.stdout
