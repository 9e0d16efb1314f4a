"""The soak's short version (the benchmark, python -m profiling.benchmarks.soak, runs
500 pollers for 10 minutes): 100 polls/s and 20 live tasks on lean for 20 seconds, long
enough for the tabs to see their first tasks through (200 segments at 20/s, 10 s) and
start others, so tasks end and begin while the polls go on.

Every task the load created must be in the DB, completed, with exactly its segments in
its chunk documents, and no answer may be a 5xx. RSS growth is reported, not asserted
(a figure for the benchmark, not a test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from profiling.benchmarks.soak import SoakPlan, soak_mode


@pytest.mark.slow
def test_soak_20s_lean_loses_nothing(tmp_path: Path) -> None:
    plan = SoakPlan(duration_s=20, pollers=100, tasks=20, warmup_s=5)
    result = soak_mode("lean", plan, tmp_path / "lean")
    print(result)  # the figures, in the test log
    assert result.tasks_created > plan.tasks, result  # tabs on their second task
    assert result.polls > 0, result
    assert result.tasks_lost == 0, result
    assert result.wrong_segment_counts == 0, result
    assert result.http_5xx == 0, result.failures_by_name
    assert result.tasks_in_db >= result.tasks_created
