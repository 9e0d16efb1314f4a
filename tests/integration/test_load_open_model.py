"""The load is an open model: a slow server gets the same arrival rate, and waits show.

Against a status handler that sleeps 200 ms, a 50 polls/s target with enough users still
sends about 50/s and reports p50 >= 200 ms. With too few users for that rate (a closed
loop in disguise) the run says so instead of hiding it: it falls short of the target,
the waits for a free user show up as late sends and in the latency, and the result is
marked invalid.
"""

from __future__ import annotations

from pathlib import Path

from test_load_validation import contract_app

from loadtests.runner import LoadSpec, run_load

LONG_TASKS = {"storm_tasks": 2, "segments": 2000, "segments_per_second": 10}
POLL = "GET /api/tasks/{id}"


def test_slow_server_still_gets_the_target_rate(tmp_path: Path) -> None:
    with contract_app("--fault", "slow-status") as url:
        enough = run_load(
            LoadSpec(host=url, scenario="polling_storm", users=30, rate_per_s=50,
                     duration_s=5, warmup_s=1, options=LONG_TASKS),
            tmp_path / "enough",
        )  # fmt: skip
        too_few = run_load(
            LoadSpec(host=url, scenario="polling_storm", users=4, rate_per_s=50,
                     duration_s=5, warmup_s=1, options=LONG_TASKS),
            tmp_path / "too_few",
        )  # fmt: skip

    stream = enough.steady.streams["poll"]
    assert 0.95 <= stream.achieved_ratio <= 1.05, stream
    assert enough.steady.endpoints[POLL].p50_ms >= 200.0
    assert enough.steady.failures == 0
    assert enough.problems() == []

    # 4 users x 5 polls/s each cannot carry 50/s: the shortfall is reported, and the
    # latency from the intended send time includes the queueing a closed model hides.
    short = too_few.steady.streams["poll"]
    assert short.achieved_ratio < 0.6
    assert short.late_sends > short.sends / 2
    assert too_few.steady.endpoints[POLL].p50_ms > 2 * enough.steady.endpoints[POLL].p50_ms
    assert any("poll: achieved" in p for p in too_few.problems())
