"""The task list's per-request allocation peak, on the real server and embedded DB.

With tracemalloc on (one frame: enough for a peak), every list request records the
traced peak above its start (reference_server/allocpeak.py) and /debug/memory reports
them. db-polling's list loads every task of the user as a full document, so a user with
100 tasks makes a list that decodes five times the documents of a user with 20: its
peak must be clearly higher (a ratio of medians within one server, never a figure).
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest

ADMIN = "admin-secret-for-the-test"
TASK = {"segments": 40, "initial_segments": 40, "segments_per_second": 100,
        "words_per_segment": 8, "seed": 3}  # fmt: skip


def _debug(server: Any, method: str, path: str) -> dict[str, Any]:
    res = server.request(method, path, token=ADMIN)
    assert res.status == 200, res.body
    return dict(res.json())


def _tasks(server: Any, token: str, n: int) -> None:
    for _ in range(n):
        res = server.request("POST", "/api/tasks", {"synthetic": TASK}, token=token)
        assert res.status == 202, res.body


def _done(server: Any, token: str, n: int) -> bool:
    body = server.request("GET", "/api/tasks", token=token).json()
    return bool(body["total_count"] == n and body["active_count"] == 0)


@pytest.mark.slow
def test_a_100_document_list_peaks_well_above_a_20_document_one(start_server, wait_for):
    server = start_server(
        "--mode", "db-polling", "--tracemalloc-frames", "1", "--admin-token", ADMIN
    )
    big, small = server.new_user("big"), server.new_user("small")
    _tasks(server, big, 100)
    _tasks(server, small, 20)
    wait_for(lambda: _done(server, big, 100) and _done(server, small, 20), "the tasks to end")

    _debug(server, "POST", "/debug/tracemalloc/reset-peak")
    assert _debug(server, "GET", "/debug/memory")["tracemalloc"]["request_peaks"] == {}
    for _ in range(5):  # one after the other: no request overlaps another
        for token in (big, small):
            assert server.request("GET", "/api/tasks", token=token).status == 200
    tm = _debug(server, "GET", "/debug/memory")["tracemalloc"]
    lists = tm["request_peaks"]["list"]
    assert lists["count"] == 10 and lists["overlapped"] == 0
    peaks = lists["peaks_bytes"]
    big_peaks, small_peaks = peaks[0::2], peaks[1::2]
    ratio = statistics.median(big_peaks) / statistics.median(small_peaks)
    assert ratio > 2.5, (big_peaks, small_peaks)
    assert lists["max_bytes"] == max(peaks)
    # The per-request resets keep the phase's own peak: at least every request's.
    assert tm["peak_bytes"] >= max(peaks)
