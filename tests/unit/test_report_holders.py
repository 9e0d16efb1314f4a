"""Who holds it in the run record and the report: round trip, merge, section and diff.

Attribution runs with holders are added in memory to the committed three-modes fixture
(each a copy of a measured run), never on disk; the fixture's own report is unchanged
(its golden test says so).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from profiling.probes.holdersclient import HoldersReply
from profiling.report.holding import held_by
from profiling.report.render import render_html, render_markdown
from profiling.results.folder import HolderGroup, Holders, RunResult, load_runs, run_json
from profiling.results.holding import holders_figures
from profiling.results.record import run_from_record
from profiling.results.validate import Fields
from profiling.verdict.compare import compare

MIB = 1024 * 1024
RESP = "local `resp` of coroutine aiohttp.web_protocol.RequestHandler.start"
BODY = "attribute `_body` of aiohttp.web_response.Response"


def _group(count: int, each: int, *chain: str) -> dict[str, object]:
    return {
        "type": "bytes",
        "count": count,
        "total_bytes": count * each,
        "each_bytes_median": each,
        "chain": ["bytes", *chain],
        "key": ["bytes", *chain],
        "root": chain[-1],
    }


def test_processes_are_merged_by_type_and_chain() -> None:
    reply = HoldersReply(
        "abc",
        {},
        {
            11: {"groups": [_group(100, MIB, BODY, RESP)], "objects_scanned": 10,
                 "elapsed_s": 1.5, "truncated": False,
                 "tracemalloc": {"top_sites": [{"site": "a.py:1", "size_bytes": 5, "count": 1}]}},
            12: {"groups": [_group(50, MIB, BODY, RESP), {"count": "bad"}],
                 "objects_scanned": 5, "elapsed_s": 2.5, "truncated": True},
        },
        missing=(13,),
    )  # fmt: skip
    h = holders_figures(reply)
    assert len(h.groups) == 1
    assert (h.groups[0].count, h.groups[0].total_bytes) == (150, 150 * MIB)
    assert h.groups[0].chain == ("bytes", BODY, RESP)
    assert (h.processes, h.missing_pids, h.objects_scanned) == (2, (13,), 15)
    assert h.elapsed_s == 2.5 and h.truncated
    assert h.top_sites[0].location == "a.py:1"


def _holders(count: int) -> Holders:
    chain = ("bytes", BODY, RESP)
    where = ("reference_server/views.py:40",)
    groups = (HolderGroup("bytes", count, count * MIB, MIB, chain, chain, RESP, where),)
    return Holders(groups, (), 1, (), 36_000, 0.4, False)


def _with_holders(fixture_runs: Path, counts: dict[str, int]) -> list[RunResult]:
    runs = load_runs(fixture_runs / "three-modes")
    extra = []
    for conf, count in counts.items():
        source = next(r for r in runs if r.configuration == conf)
        extra.append(
            replace(
                source, profile="holders", order=len(runs) + len(extra) + 1, holders=_holders(count)
            )
        )
    return runs + extra


def test_the_record_round_trips(fixture_runs: Path) -> None:
    run = _with_holders(fixture_runs, {"db-polling": 200})[-1]
    record = json.loads(run_json(run))
    back = run_from_record(Fields(record, "run.json"))
    assert back.holders == run.holders
    assert back.profile == "holders"
    # Runs without holders have no key at all: older records and goldens stay the same.
    assert "holders" not in json.loads(run_json(replace(run, holders=None)))


def test_the_report_says_who_holds_it_and_diffs_configurations(fixture_runs: Path) -> None:
    runs = _with_holders(fixture_runs, {"db-polling": 200, "memory-first": 150})
    c = compare(runs)
    md = render_markdown(c)
    assert "## Who holds it (attribution runs)" in md
    assert f"| 200.0 MiB in 200 `bytes` of 1.0 MiB | {BODY} <- {RESP} |" in md
    assert "### Holders across configurations" in md
    assert "| 200.0 MiB (200) | 150.0 MiB (150) -50.0 MiB |" in md
    assert "Who holds it" in render_html(c)


def test_a_chain_that_stops_short_says_why() -> None:
    why = "no tracked referrer"
    g = HolderGroup("str", 3, 3 * MIB, MIB, ("str", "item 1 of list"), ("str",), why)
    assert held_by(g) == "item 1 of list <- (no tracked referrer)"


def test_no_holders_no_section(fixture_runs: Path) -> None:
    md = render_markdown(compare(load_runs(fixture_runs / "three-modes")))
    assert "Who holds it" not in md
