"""The benchmarks' parsers: wrk's summary and py-spy's collapsed stacks (pure)."""

from __future__ import annotations

import pytest

from profiling.benchmarks.closed_loop import parse_wrk
from profiling.benchmarks.sampling import render_top, top_functions
from profiling.errors import HarnessError

WRK_OK = """Running 1s test @ http://127.0.0.1:40163/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   539.88us    2.12ms  22.91ms   96.57%
    Req/Sec    23.36k     4.34k   25.92k    90.00%
  23301 requests in 1.00s, 6.11MB read
Requests/sec:  23194.14
Transfer/sec:      6.08MB
"""

WRK_FAILING = """Running 1s test @ http://127.0.0.1:40163/nope
  1 threads and 4 connections
  14675 requests in 1.10s, 2.44MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 14675
Requests/sec:  13338.14
"""


def test_parse_wrk_reads_requests_and_duration() -> None:
    result = parse_wrk(WRK_OK)
    assert (result.requests, result.non_2xx, result.socket_errors) == (23301, 0, 0)
    assert result.duration_s == 1.0
    assert result.rps == pytest.approx(23301.0)


def test_parse_wrk_counts_failures() -> None:
    result = parse_wrk(WRK_FAILING)
    assert (result.requests, result.non_2xx, result.socket_errors) == (14675, 14675, 3)
    assert result.duration_s == pytest.approx(1.1)


def test_parse_wrk_without_a_summary_is_a_harness_error() -> None:
    with pytest.raises(HarnessError, match="no summary"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


COLLAPSED = """\
<module> (srv/__main__.py);run (asyncio/runners.py);handle (srv/routes.py);view (srv/models.py) 6
<module> (srv/__main__.py);run (asyncio/runners.py);handle (srv/routes.py) 2
<module> (srv/__main__.py);run (asyncio/runners.py);write (asyncio/selector_events.py) 12
not a stack line
"""


def test_top_functions_sums_inclusive_and_self_shares() -> None:
    total, rows = top_functions(COLLAPSED, by="self")
    assert total == 20
    by_name = {row.name: row for row in rows}
    assert rows[0].name == "write (asyncio/selector_events.py)"
    assert by_name["handle (srv/routes.py)"].inclusive == pytest.approx(8 / 20)
    assert by_name["handle (srv/routes.py)"].self_share == pytest.approx(2 / 20)
    assert by_name["<module> (srv/__main__.py)"].inclusive == 1.0
    total, rows = top_functions(COLLAPSED, limit=2)
    assert [row.inclusive for row in rows] == [1.0, 1.0]
    assert "20 samples" in render_top(total, rows)
