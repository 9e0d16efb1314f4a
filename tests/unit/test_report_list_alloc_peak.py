"""The list requests' allocation peaks: the server's bookkeeping, the run record, the claims.

The server side (reference_server/allocpeak.py) runs in-process under tracemalloc here;
the claims side adds tracemalloc attribution runs to the committed ablation fixture in
memory (each run a copy of a measured one with its per-request peaks), never on disk.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from profiling.results.folder import RequestPeaks, load_runs, run_json, run_record
from profiling.results.record import run_from_record
from profiling.results.validate import Fields, SchemaError
from profiling.verdict.claims import PLAN_FILE, evaluate, plan_from_document
from reference_server.allocpeak import RequestPeaks as ServerPeaks

MIB = 1024 * 1024


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start(1)
    yield
    tracemalloc.stop()


def test_a_request_records_what_it_held_at_once(tracing: None) -> None:
    peaks = ServerPeaks()
    with peaks.measure("list"):
        held = bytearray(4 * MIB)
        del held
    with peaks.measure("list"):
        small = bytearray(MIB // 4)
        del small
    got = peaks.summary()["list"]
    assert got["count"] == 2 and got["overlapped"] == 0
    big, little = got["peaks_bytes"]
    assert big >= 4 * MIB > little >= MIB // 4
    # The per-request resets do not lose the phase's peak.
    assert peaks.phase_peak() >= big


def test_overlapping_requests_are_counted_not_measured(tracing: None) -> None:
    peaks = ServerPeaks()
    with peaks.measure("list"), peaks.measure("list"):
        pass
    with peaks.measure("list"):
        pass
    got = peaks.summary()["list"]
    assert got["count"] == 1 and got["overlapped"] == 2
    peaks.reset()
    assert peaks.summary() == {}


def test_without_tracemalloc_nothing_is_recorded() -> None:
    assert not tracemalloc.is_tracing()
    peaks = ServerPeaks()
    with peaks.measure("list"):
        pass
    assert peaks.summary() == {} and peaks.phase_peak() == 0


def _ablation_with_attribution(folder: Path, peaks: dict[str, tuple[int, ...]]):  # type: ignore[no-untyped-def]
    plan = plan_from_document(json.loads((folder / PLAN_FILE).read_text()))
    runs = load_runs(folder)
    extra = []
    for conf, values in peaks.items():
        source = next(r for r in runs if r.configuration == conf and r.scenario.name == "dashboard")
        extra.append(
            replace(
                source,
                profile="tracemalloc",
                order=len(runs) + len(extra) + 1,
                repeat=1,
                request_peaks=RequestPeaks("list", values),
            )
        )
    return evaluate(plan, [*runs, *extra], name="ablation")


def test_claims_get_a_per_request_row_from_the_attribution_runs(fixture_runs: Path) -> None:
    twenty = tuple(5 * MIB + i * 1024 for i in range(12))
    hundred = tuple(26 * MIB + i * 1024 for i in range(12))
    a = _ablation_with_attribution(
        fixture_runs / "ablation",
        {
            "memory-first": twenty,
            "memory-first:active_list_limit=100": hundred,
            "memory-first:list_cleanup=false": tuple(int(v * 1.3) for v in twenty),
        },
    )
    rows = {(r.key, r.metric): r for r in a.claims}
    limit = rows[("active_list_limit", "list_alloc_peak_bytes")]
    assert not limit.primary and limit.n_with == limit.n_without == 12
    assert limit.saving is not None and 0.79 < limit.saving < 0.82
    assert limit.verdict == "better" and limit.saving_low is None  # requests do not pair
    # Change 7 promises "20-30 % per list call": with its attribution runs, the per-request
    # peak is its own metric (1 - 1/1.3 = 23 % saved: confirmed), peak RSS context.
    cleanup = rows[("list_cleanup", "list_alloc_peak_bytes")]
    assert cleanup.primary and cleanup.verdict == "confirmed"
    assert cleanup.claimed_low == 0.20
    assert not rows[("list_cleanup", "peak_rss_bytes")].primary
    assert next(r.metric for r in a.claims if r.key == "list_cleanup") == "list_alloc_peak_bytes"
    # The measured runs' medians do not see the attribution runs.
    base = next(c for _, c in a.comparisons if c.config("memory-first:list_cleanup=false"))
    assert all(r.profile == "none" for conf in base.configurations for r in conf.runs)


def test_no_attribution_runs_means_no_per_request_row(fixture_runs: Path) -> None:
    a = _ablation_with_attribution(fixture_runs / "ablation", {})
    assert not any(r.metric == "list_alloc_peak_bytes" for r in a.claims)
    own = {r.key: r.metric for r in a.claims if r.primary}
    assert own["list_cleanup"] == "peak_rss_bytes"  # its first metric, as before


def test_request_peaks_round_trip_and_are_validated(fixture_runs: Path) -> None:
    run = load_runs(fixture_runs / "ablation")[0]
    assert "request_peaks" not in run_record(run)  # absent when None: goldens unchanged
    with_peaks = replace(run, request_peaks=RequestPeaks("list", (3, 1, 2), overlapped=4))
    record = json.loads(run_json(with_peaks))
    back = run_from_record(Fields(record, "run.json"))
    assert back.request_peaks == with_peaks.request_peaks
    assert back.request_peaks is not None and back.request_peaks.median_bytes == 2.0
    record["request_peaks"]["peaks_bytes"] = [1, "lots"]
    with pytest.raises(SchemaError, match=r"request_peaks\.peaks_bytes"):
        run_from_record(Fields(record, "run.json"))


def test_a_real_attribution_ablation_judges_change_7_per_request(
    fixture_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tests/fixtures/runs/ablation-attribution: made by `memdiag ablate --attribution`."""
    from profiling.cli import main
    from profiling.verdict import ablation_gate
    from profiling.verdict.read_ablation import load_ablation

    folder = fixture_runs / "ablation-attribution"
    a = load_ablation(folder)
    assert a is not None and a.valid
    (load, c), *_ = a.comparisons
    assert load == "dashboard"
    for conf in c.configurations:  # one attribution run each, never in the medians
        assert len(conf.attribution) == 1 and all(r.profile == "none" for r in conf.runs)
    stored = {
        json.loads(p.read_text())["configuration"]: json.loads(p.read_text())["request_peaks"]
        for p in folder.glob("runs/*-tracemalloc/run.json")
    }
    own = next(r for r in a.claims if r.key == "list_cleanup" and r.primary)
    assert own.metric == "list_alloc_peak_bytes"
    assert own.n_without == len(stored["memory-first:list_cleanup=false"]["peaks_bytes"])
    assert own.n_with == len(stored["memory-first"]["peaks_bytes"])
    # The limit's variant lists five times the tasks: the work differs by design, so the
    # gate reports it and still judges the claims (not exit 3).
    assert not a.comparable and ablation_gate.expected_work(a)
    assert ablation_gate.unequal_work(a) == []
    expected = {"confirmed": 0, "inconclusive": 4}.get(own.verdict, 1)
    assert main(["gate", str(folder), "--claims", "list_cleanup"]) == expected
    assert "work that differs by design" in capsys.readouterr().out


def test_the_debug_reply_is_read_defensively() -> None:
    from profiling.probes.debugclient import request_peaks

    reply = {"tracemalloc": {"request_peaks": {"list": {"peaks_bytes": [5, True, "x", 7],
                                                        "overlapped": 2}}}}  # fmt: skip
    assert request_peaks(reply, "list") == ((5, 7), 2)
    assert request_peaks(reply, "status") is None
    assert request_peaks({"tracemalloc": {"tracing": False}}, "list") is None


def test_ablate_attribution_profiles_the_dashboard_only_after_its_gated_runs() -> None:
    from profiling.cli import build_parser
    from profiling.commands import ablate
    from profiling.errors import UsageError
    from profiling.run.options import load_plan

    argv = ["ablate", "--quick", "--switches", "poll_source,active_list_limit", "--attribution"]
    args = build_parser().parse_args(argv)
    p = ablate.build_plan(args)
    schedules = dict(ablate.jobs_for(p, load_plan(ablate.load_settings(args)), args))
    assert all(j.profile == "none" for j in schedules["storm"])
    dash = schedules["dashboard"]
    profiled = [j for j in dash if j.profile != "none"]
    assert [j.profile for j in dash[-len(profiled) :]] == ["tracemalloc"] * len(
        p.configs("dashboard")
    )
    assert {j.config.label for j in profiled} == set(p.configs("dashboard"))
    assert args.tracemalloc_frames == 1  # a peak needs no tracebacks
    describe = ablate._describer(p)
    assert describe(profiled[0]).endswith("attribution (tracemalloc)")
    # Nothing the server can attribute: a usage error, not a silent no-op.
    args = build_parser().parse_args(["ablate", "--switches", "poll_source", "--attribution"])
    with pytest.raises(UsageError, match="--attribution measures the dashboard"):
        ablate.attribution_loads(ablate.build_plan(args), args)
