"""The tab model's pacing (loadtests.pacing.TabPacer): per-tab slots that together make
the global schedule, and an extra connection only when a send is due while one is out."""

from __future__ import annotations

import pytest

from loadtests.pacing import BROWSER_CONNECTIONS, TabPacer


def test_tabs_interleave_into_the_global_schedule() -> None:
    # 4 tabs at 8 polls/s: each every 0.5 s, offsets 1/8 apart.
    tabs = [TabPacer.for_tab(i, 4, 8.0, 100.0) for i in range(4)]
    slots = sorted(t.claim() for t in tabs for _ in range(3))
    assert slots == pytest.approx([100.0 + j / 8.0 for j in range(12)])
    assert tabs[1].interval_s == pytest.approx(0.5)


def test_users_given_keep_the_rate() -> None:
    # 50 tabs at 10 polls/s: each tab polls every 5 s.
    tab = TabPacer.for_tab(3, 50, 10.0, 0.0)
    assert [tab.claim() for _ in range(3)] == pytest.approx([0.3, 5.3, 10.3])


def test_a_tab_opened_late_starts_at_its_next_slot() -> None:
    tab = TabPacer(1.0, 10.0, not_before_s=12.5)
    assert tab.claim() == pytest.approx(13.0)
    on_time = TabPacer(1.0, 10.0, not_before_s=9.0)
    assert on_time.claim() == pytest.approx(10.0)


def test_one_connection_while_polls_return_in_time() -> None:
    tab = TabPacer(1.0, 0.0)
    for _ in range(5):
        tab.claim()
        conn = tab.acquire()
        assert conn == 0
        tab.release(conn)
    assert (tab.opened, tab.max_busy) == (1, 1)


def test_a_send_due_while_one_is_pending_opens_another_connection() -> None:
    tab = TabPacer(1.0, 0.0)
    first = tab.acquire()
    second = tab.acquire()  # the first has not returned
    assert (first, second) == (0, 1)
    tab.release(0)
    assert tab.acquire() == 0  # an idle connection is reused before a new one
    assert (tab.opened, tab.max_busy, tab.pending) == (2, 2, 2)


def test_at_most_six_connections_like_a_browser() -> None:
    tab = TabPacer(1.0, 0.0)
    got = [tab.acquire() for _ in range(BROWSER_CONNECTIONS)]
    assert got == list(range(6))
    assert tab.acquire() is None  # all six busy: the send waits
    tab.release(4)
    assert tab.acquire() == 4
    assert tab.opened == 6


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        TabPacer(0.0, 0.0)
    with pytest.raises(ValueError):
        TabPacer.for_tab(5, 5, 10.0, 0.0)
    tab = TabPacer(1.0, 0.0)
    tab.release(tab.acquire() or 0)
    with pytest.raises(ValueError):
        tab.release(0)  # released twice


def test_the_work_tracker_settles_once_every_tab_had_a_steady_reply() -> None:
    from loadtests.work import WorkTracker, merge_exports

    work = WorkTracker()
    work.reset(0)
    work.ready_at_s = 5.0
    for tab in ("0:0", "0:1"):
        work.tab_opened(tab, 0)
    work.tab_opened("0:1", 2)  # its poll was due while one was out
    work.tab_polled("0:0", 9.0, 9.1)  # before the steady phase: not counted
    work.steady_start_s = 10.0
    work.tab_polled("0:0", 10.2, 10.3)
    assert work.settled_at_s is None  # tab 0:1 has not had a steady reply yet
    work.tab_polled("0:1", 10.7, 10.9)
    assert work.settled_at_s == 10.9
    doc = work.export()
    assert doc["connections"] == {"tabs": 2, "opened": 2, "max_per_tab": 2}
    other = {**doc, "connections": {"tabs": 3, "opened": 4, "max_per_tab": 1}}
    merged = merge_exports([doc, {**other, "settled_at_s": 11.5}])
    assert merged is not None
    assert merged["connections"] == {"tabs": 5, "opened": 6, "max_per_tab": 2}
    assert merged["settled_at_s"] == 11.5
    assert merge_exports([doc, {**other, "settled_at_s": None}])["settled_at_s"] is None  # type: ignore[index]
