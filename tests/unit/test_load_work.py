"""The work a load run measured: readiness and per-task size, from status replies alone."""

from __future__ import annotations

from loadtests.recorder import Recorder
from loadtests.results import parse_result
from loadtests.work import WorkTracker, merge_exports


def _status(count: int, status: str = "transcribing") -> dict[str, object]:
    return {"task_id": "x", "status": status, "progress": 50.0, "segment_count": count}


def test_ready_after_a_round_of_replies_all_at_the_target() -> None:
    work = WorkTracker(target_segments=100)
    work.expect("a")
    work.expect("b")
    work.observe("a", _status(100), 300, intended_s=1.0, now_s=1.1)
    assert work.ready_at_s is None, "task b was created and not seen yet"
    work.observe("b", _status(0, "queued"), 200, intended_s=1.2, now_s=1.3)
    assert work.ready_at_s is None, "task b is live and has not reached 100"
    work.observe("b", _status(100), 300, intended_s=2.0, now_s=2.1)
    assert work.ready_at_s is None, "one reply at the target since b's short one"
    work.observe("a", _status(101), 300, intended_s=2.2, now_s=2.3)
    assert work.ready_at_s == 2.3, "a whole round of replies at the target"


def test_a_finished_task_does_not_hold_readiness_back() -> None:
    work = WorkTracker(target_segments=100)
    work.expect("a")
    work.expect("b")
    work.observe("a", _status(100), 300, 1.0, 1.0)
    work.observe("b", _status(40, "failed"), 300, 1.0, 1.5)
    assert work.ready_at_s == 1.5


def test_no_target_is_ready_at_the_first_reply_and_not_before() -> None:
    work = WorkTracker(target_segments=0)
    assert work.ready_at_s is None
    work.observe("a", _status(0, "queued"), 100, 1.0, 1.0)
    assert work.ready_at_s == 1.0


def test_steady_figures_come_from_the_first_and_last_steady_reply() -> None:
    work = WorkTracker(target_segments=10)
    work.observe("a", _status(10), 1000, 1.0, 1.0)  # warm-up: not counted
    work.steady_start_s = 5.0
    work.observe("a", _status(11), 1100, 5.0, 5.1)
    work.observe("a", _status(12), 1200, 6.0, 6.1)
    work.observe("a", _status(13), 1300, 7.0, 7.1)
    work.observe("c", "not json", 10, 7.0, 7.1)  # ignored
    doc = work.export()
    assert doc["tasks"] == {
        "a": {
            "segments_start": 11,
            "segments_end": 13,
            "status_bytes_start": 1100,
            "status_bytes_end": 1300,
            "polls": 3,
            "stale_polls": 0,
        }
    }
    assert doc["ready_at_s"] == 1.0 and doc["steady_start_s"] == 5.0


def test_a_stale_reply_does_not_hold_readiness_back() -> None:
    work = WorkTracker(target_segments=10)
    work.expect("a")
    work.expect("b")
    work.observe("a", _status(10), 100, 1.0, 1.0)
    work.observe("b", _status(0), 100, 1.1, 1.1)  # not grown yet: breaks the round
    work.observe("b", _status(10), 100, 1.2, 1.2)
    assert work.ready_at_s is None
    work.observe("a", _status(0), 100, 1.3, 1.3)  # stale: a has shown 10 already
    assert work.ready_at_s == 1.3


def test_a_reply_below_the_highest_count_seen_is_stale() -> None:
    # Two server processes: the one not running the task answers from the DB's copy.
    work = WorkTracker(target_segments=10)
    work.observe("a", _status(12), 1200, 1.0, 1.0)  # warm-up: sets the highest seen
    work.steady_start_s = 5.0
    work.observe("a", _status(0), 100, 5.0, 5.1)  # below 12 seen in the warm-up: stale
    work.observe("a", _status(13), 1300, 6.0, 6.1)
    work.observe("a", _status(13), 1300, 6.5, 6.6)  # as many as before: not stale
    work.observe("a", _status(12), 1200, 7.0, 7.1)  # below 13: stale
    work.observe("b", _status(5), 500, 7.0, 7.1)  # another task has its own highest
    work.observe("b", _status(4), 400, 4.0, 7.2)  # stale, but meant for the warm-up
    doc = work.export()
    assert doc["tasks"]["a"]["polls"] == 4 and doc["tasks"]["a"]["stale_polls"] == 2
    # The task's size comes from the replies that were not stale (13, not 0 or 12).
    assert (doc["tasks"]["a"]["segments_start"], doc["tasks"]["a"]["segments_end"]) == (13, 13)
    assert doc["tasks"]["a"]["status_bytes_start"] == 1300
    assert doc["tasks"]["b"]["polls"] == 1 and doc["tasks"]["b"]["stale_polls"] == 0
    rec = Recorder(started_at_s=0.0, warmup_s=0.0, late_threshold_s=0.01)
    rec.record_request("GET /x", 1.0, 1.01)
    result = rec.result(targets_per_s={}, meta=_meta(), stopped_at_s=2.0)
    parsed = parse_result({**result, "work": merge_exports([doc])}).work
    assert parsed is not None and parsed.tasks["a"].stale_polls == 2
    # A result written before stale replies were counted reads as none.
    del doc["tasks"]["a"]["stale_polls"]
    older = parse_result({**result, "work": doc}).work
    assert older is not None and older.tasks["a"].stale_polls == 0


def test_merge_is_ready_only_when_every_process_was() -> None:
    a = WorkTracker(target_segments=5)
    b = WorkTracker(target_segments=5)
    a.steady_start_s = b.steady_start_s = 3.0
    a.observe("t1", _status(5), 10, 3.0, 1.0)
    b.observe("t2", _status(4), 10, 3.0, 2.0)
    merged = merge_exports([a.export(), b.export()])
    assert merged is not None and merged["ready_at_s"] is None
    assert set(merged["tasks"]) == {"t1", "t2"}
    b.observe("t2", _status(5), 10, 3.5, 4.0)
    merged = merge_exports([a.export(), b.export()])
    assert merged is not None and merged["ready_at_s"] == 4.0
    assert merge_exports([]) is None


def test_a_scenario_of_short_tasks_says_so_through_the_merge() -> None:
    short, plain = WorkTracker(), WorkTracker()
    short.reset(0, tasks_end_in_run=True)
    plain.reset(0)
    for w in (short, plain):
        w.steady_start_s = 1.0
        w.observe("t", _status(3), 10, 2.0, 2.0)
    assert short.export()["tasks_end_in_run"] is True
    assert "tasks_end_in_run" not in plain.export()  # what older results look like
    merged = merge_exports([short.export(), short.export()])
    assert merged is not None and merged["tasks_end_in_run"] is True
    assert "tasks_end_in_run" not in (merge_exports([plain.export()]) or {})
    rec = Recorder(started_at_s=0.0, warmup_s=0.0, late_threshold_s=0.01)
    rec.record_request("GET /x", 1.0, 1.01)
    result = rec.result(targets_per_s={}, meta=_meta(), stopped_at_s=2.0)
    parsed = parse_result({**result, "work": merged}).work
    assert parsed is not None and parsed.tasks_end_in_run
    older = parse_result({**result, "work": plain.export()}).work
    assert older is not None and not older.tasks_end_in_run
    short.reset(5)
    assert not short.tasks_end_in_run  # each reset says it again


def test_recorder_counts_steady_from_the_runners_start() -> None:
    rec = Recorder(started_at_s=100.0, warmup_s=5.0, late_threshold_s=0.01)
    rec.steady_start_s = 120.0  # the warm-up waited for the tasks
    rec.record_request("GET /x", 110.0, 110.01)
    rec.record_request("GET /x", 121.0, 121.01)
    doc = rec.result(targets_per_s={}, meta=_meta(), stopped_at_s=130.0)
    assert doc["warmup_s"] == 20.0
    assert doc["phases"]["steady"]["requests"] == 1
    assert doc["phases"]["total"]["requests"] == 2
    assert doc["phases"]["steady"]["duration_s"] == 10.0


def test_load_result_parses_the_work_section() -> None:
    rec = Recorder(started_at_s=0.0, warmup_s=0.0, late_threshold_s=0.01)
    rec.record_request("GET /x", 1.0, 1.01)
    work = WorkTracker(target_segments=3)
    work.steady_start_s = 0.0
    work.observe("a", _status(3), 77, 1.0, 1.0)
    doc = rec.result(targets_per_s={}, meta=_meta(), stopped_at_s=2.0)
    result = parse_result({**doc, "work": work.export()})
    assert result.work is not None and result.work.ready
    assert result.work.tasks["a"].status_bytes_end == 77
    assert parse_result(doc).work is None


def _meta() -> dict[str, object]:
    return {
        "scenario": "t",
        "host": "h",
        "users": 1,
        "workers": 1,
        "workers_reported": 1,
        "generator": {"processes": [], "locust_cpu_warning": False, "saturated": False},
    }


def test_a_task_that_stays_queued_keeps_the_run_from_being_ready() -> None:
    work = WorkTracker(target_segments=50)
    work.expect("a")
    work.expect("b")
    for i in range(20):  # round robin: a is pre-grown, b never leaves the queue
        work.observe("a", _status(50), 10, i, i)
        work.observe("b", _status(0, "queued"), 10, i + 0.5, i + 0.5)
    assert work.ready_at_s is None


def test_replaced_tasks_do_not_hold_readiness_back_forever() -> None:
    """Tasks that end at once are replaced; each new one shows up queued once."""
    work = WorkTracker(target_segments=50)
    t = 0.0
    for n in range(10):
        work.expect(f"new{n}")
        for name in (f"new{n}", "a", "b"):
            t += 1
            doc = _status(0, "queued") if name.startswith("new") else _status(50)
            work.observe(name, doc, 10, t, t)
        work.observe(f"new{n}", _status(50, "completed"), 10, t + 0.5, t + 0.5)
    assert work.ready_at_s is not None


def test_a_list_request_is_one_poll_however_many_tasks_it_shows() -> None:
    a = WorkTracker(target_segments=3)
    b = WorkTracker(target_segments=3)
    a.steady_start_s = b.steady_start_s = 10.0
    a.request(9.0)  # a warm-up request is not counted
    for when in (10.0, 11.0):
        a.request(when)
        for task in ("t1", "t2", "t3"):
            a.observe(task, _status(3), 50, when, when)
    b.request(10.5)
    merged = merge_exports([a.export(), b.export()])
    assert merged is not None and merged["requests"] == 3
    rec = Recorder(started_at_s=0.0, warmup_s=10.0, late_threshold_s=0.01)
    rec.record_request("GET /x", 11.0, 11.01)
    work = parse_result(
        {**rec.result(targets_per_s={}, meta=_meta(), stopped_at_s=12.0), "work": merged}
    ).work
    assert work is not None and work.requests == 3
    assert sum(t.polls for t in work.tasks.values()) == 6  # what a per-task count says
    # A scenario that counts no requests exports none; its polls are its replies.
    assert "requests" not in WorkTracker(target_segments=3).export()
