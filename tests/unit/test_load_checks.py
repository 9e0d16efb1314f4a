"""Pure parts of the load generator: pacing, response checks, HDR recording, result parsing."""

from __future__ import annotations

import json

import pytest

from loadtests.pacing import Pacer, process_share, split_evenly
from loadtests.recorder import Recorder
from loadtests.results import ResultFormatError, parse_result
from loadtests.validate import (
    Floor,
    Kind,
    TaskWatch,
    check_final,
    check_segments_page,
    check_status_view,
    check_task_list,
)

TASK = "a" * 32


def view(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {"task_id": TASK, "status": "transcribing", "progress": 10.0,
                              "segment_count": 1, "created_at": "2026-01-01T00:00:00Z",
                              "finished_at": None, "error": None}  # fmt: skip
    return doc | changes


def kinds(problems: list[object]) -> set[str]:
    return {p.kind.value for p in problems}  # type: ignore[attr-defined]


def test_pacer_hands_out_a_fixed_schedule() -> None:
    pacer = Pacer(4.0, start_s=100.0)
    assert [pacer.claim() for _ in range(3)] == [100.0, 100.25, 100.5]
    with pytest.raises(ValueError):
        Pacer(0, 0.0)
    assert process_share(50, 2) == 25
    assert [split_evenly(5, 2, i) for i in range(2)] == [3, 2]


def test_status_view_schema_and_foreign_task() -> None:
    assert check_status_view(view(), TASK) == []
    assert kinds(check_status_view(view(task_id="b" * 32), TASK)) == {"foreign data"}
    assert kinds(check_status_view(view(progress="10"), TASK)) == {"schema"}
    assert kinds(check_status_view(view(status="sleeping"), TASK)) == {"schema"}
    assert kinds(check_status_view(view(), TASK, full=True)) == {"schema"}
    bad_segment = view(segments=[{"id": 0}])
    assert kinds(check_status_view(bad_segment, TASK)) == {"schema"}


def test_watch_judges_against_what_was_seen_before_the_send() -> None:
    watch = TaskWatch()
    early = watch.floor(TASK)  # a slow request sent before anything was seen
    assert watch.observe(TASK, watch.floor(TASK), view(progress=50.0, segment_count=5)) == []
    # The slow reply is older than what another poll saw since, but it was sent before:
    # not a violation.
    assert watch.observe(TASK, early, view(progress=20.0, segment_count=2)) == []
    later = watch.floor(TASK)
    assert later == Floor(progress=50.0, status="transcribing", segment_count=5)
    problems = watch.observe(TASK, later, view(progress=40.0, segment_count=5))
    assert kinds(problems) == {"progress decreased"}
    done = view(status="completed", progress=100.0, segment_count=5)
    assert watch.observe(TASK, watch.floor(TASK), done) == []
    back = watch.observe(TASK, watch.floor(TASK), view(progress=100.0, segment_count=5))
    assert kinds(back) == {"status transition"}
    failed = view(status="failed", progress=100.0, segment_count=5)
    assert kinds(watch.observe(TASK, watch.floor(TASK), failed)) == {"status transition"}


def test_final_pages_and_list_checks() -> None:
    done = view(status="completed", progress=100.0, segment_count=9)
    assert kinds(check_final(done, 10)) == {Kind.SEGMENT_COUNT.value}
    assert check_final(done, 9) == []
    assert kinds(check_final(view(status="failed"), 9)) == {Kind.TASK_FAILED.value}
    seg = {"id": 0, "start": 0.0, "end": 1.0, "text": "x", "speaker": None, "words": []}
    assert check_segments_page({"segments": [seg], "offset": 0, "total": 1}, 0, 10) == []
    short = {"segments": [seg], "offset": 0, "total": 5}
    assert kinds(check_segments_page(short, 0, 10)) == {"schema"}
    listing = {"active_count": 1, "total_count": 1, "active_tasks": [view()],
               "all_tasks": [view()]}  # fmt: skip
    assert check_task_list(listing, {TASK}) == []
    assert kinds(check_task_list(listing, {"c" * 32})) == {"foreign data"}


def test_recorder_phases_rates_and_worker_merge() -> None:
    worker = Recorder(started_at_s=0.0, warmup_s=1.0, late_threshold_s=0.01)
    for i in range(40):  # 20/s for 2 s; latency 5 ms; the second half is steady
        intended = i * 0.05
        worker.record_send("poll", intended, intended + (0.02 if i == 30 else 0.0))
        worker.record_request("GET x", intended, intended + 0.005, ["schema"] if i == 3 else [])
    master = Recorder(started_at_s=0.0, warmup_s=1.0, late_threshold_s=0.01)
    master.merge(json.loads(json.dumps(worker.export())))  # survives the wire
    meta = {"scenario": "t", "host": "h", "users": 1, "workers": 1,
            "generator": {"processes": [], "locust_cpu_warning": False}}  # fmt: skip
    result = parse_result(master.result(targets_per_s={"poll": 20.0}, meta=meta, stopped_at_s=2.0))
    total, steady = result.total, result.steady
    assert total.requests == 40 and steady.requests == 20
    assert total.failures_by_name == {"schema": 1} and steady.failures == 0
    assert steady.streams["poll"].achieved_ratio == pytest.approx(1.0)
    assert steady.streams["poll"].late_sends == 1
    assert steady.endpoints["GET x"].p50_ms == pytest.approx(5.0, rel=0.01)
    assert result.problems() == []
    # Half the sends missing: the run is invalid and says why.
    lossy = Recorder(started_at_s=0.0, warmup_s=0.0, late_threshold_s=0.01)
    for i in range(0, 40, 2):
        lossy.record_send("poll", i * 0.05, i * 0.05)
        lossy.record_request("GET x", i * 0.05, i * 0.05 + 0.001)
    half = parse_result(lossy.result(targets_per_s={"poll": 20.0}, meta=meta, stopped_at_s=2.0))
    assert half.steady.streams["poll"].achieved_ratio == pytest.approx(0.5)
    assert any("poll: achieved" in p for p in half.problems())


def test_result_of_another_schema_is_refused() -> None:
    with pytest.raises(ResultFormatError, match="schema_version 99"):
        parse_result({"schema_version": 99})


def test_saturated_generator_makes_the_run_invalid() -> None:
    rec = Recorder(started_at_s=0.0, warmup_s=0.0, late_threshold_s=0.01)
    rec.record_request("GET x", 0.0, 0.001)
    process = {"role": "local", "pid": 1, "cpu_s": 1.0, "cpu_percent_mean": 95.0,
               "cpu_percent_max": 100.0, "rss_bytes": 1, "peak_rss_bytes": 2}  # fmt: skip
    meta = {"scenario": "t", "host": "h", "users": 1, "workers": 1,
            "generator": {"processes": [process], "locust_cpu_warning": True}}  # fmt: skip
    result = parse_result(rec.result(targets_per_s={}, meta=meta, stopped_at_s=1.0))
    assert result.generator.saturated
    assert result.generator.cpu_percent_max == 100.0
    assert any("saturated" in p for p in result.problems())
