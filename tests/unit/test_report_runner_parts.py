"""Pure parts of the experiment runner: configurations, the schedule, /metrics figures, options."""

from __future__ import annotations

import argparse

import pytest

from profiling.errors import UsageError
from profiling.results import figures
from profiling.run.options import _options, add_load_arguments, default_users, load_plan
from profiling.run.plans import Job, LoadPlan
from profiling.run.runner import schedule
from profiling.run.servers import Configuration, parse_configurations
from profiling.run.settings import LoadSettings, from_args


def test_parse_configurations_with_switches_and_aa_labels() -> None:
    configs = parse_configurations("db-polling,lean:status_view=full,json_encoder=json,lean,lean")
    assert [c.label for c in configs] == [
        "db-polling",
        "lean:status_view=full,json_encoder=json",
        "lean",
        "lean#2",
    ]
    assert configs[1].overrides == ("status_view=full", "json_encoder=json")
    assert configs[1].server_args() == [
        "--mode",
        "lean",
        "--set",
        "status_view=full",
        "--set",
        "json_encoder=json",
    ]
    assert configs[3].spec == "lean"
    allocators = parse_configurations(
        "db-polling,db-polling@jemalloc,lean:status_view=full,json_encoder=json@arenas=2"
    )
    assert [c.label for c in allocators] == [
        "db-polling",
        "db-polling@jemalloc",
        "lean:status_view=full,json_encoder=json@arenas=2",
    ]
    assert [c.allocator for c in allocators] == [None, "jemalloc", "arenas=2"]
    assert allocators[2].overrides == ("status_view=full", "json_encoder=json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast", "unknown mode 'fast'"),
        ("copy_on_merge=false,lean", "has no mode before it"),
        ("lean:orjson", "write switches as mode:switch=value"),
        (" , ", "names no configuration"),
        ("lean@tcmalloc", "unknown allocator 'tcmalloc'"),
    ],
)
def test_parse_configurations_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_configurations(text)


def test_schedule_interleaves_then_adds_attribution_runs() -> None:
    a, b = Configuration("a", "lean"), Configuration("b", "db-polling")
    jobs = schedule([a, b], 3, LoadPlan(), profile="memray")
    assert [(j.config.label, j.repeat, j.profile) for j in jobs] == [
        ("a", 1, "none"),
        ("b", 1, "none"),
        ("a", 2, "none"),
        ("b", 2, "none"),
        ("a", 3, "none"),
        ("b", 3, "none"),
        ("a", 1, "memray"),
        ("b", 1, "memray"),
    ]
    assert [j.order for j in jobs] == list(range(1, 9))
    assert jobs[-1].folder_name == "08-b-r1-memray"
    odd = Job(Configuration("lean:status_view=full", "lean", ("status_view=full",)), 2, 11)
    assert odd.folder_name == "11-lean-status_view-full-r2"


METRICS_BEFORE = """
# TYPE memdiag_event_loop_lag_seconds histogram
memdiag_event_loop_lag_seconds_bucket{le="0.001"} 10.0
memdiag_event_loop_lag_seconds_bucket{le="0.01"} 10.0
memdiag_event_loop_lag_seconds_bucket{le="0.1"} 10.0
memdiag_event_loop_lag_seconds_bucket{le="+Inf"} 10.0
memdiag_event_loop_lag_seconds_count 10.0
memdiag_event_loop_lag_seconds_sum 0.001
"""
METRICS_AFTER = """
# TYPE memdiag_event_loop_lag_seconds histogram
memdiag_event_loop_lag_seconds_bucket{le="0.001"} 60.0
memdiag_event_loop_lag_seconds_bucket{le="0.01"} 100.0
memdiag_event_loop_lag_seconds_bucket{le="0.1"} 110.0
memdiag_event_loop_lag_seconds_bucket{le="+Inf"} 110.0
memdiag_event_loop_lag_seconds_count 110.0
memdiag_event_loop_lag_seconds_sum 0.3
"""


def test_loop_lag_quantile_from_bucket_deltas() -> None:
    # Between the scrapes: 50 under 1 ms, 40 in 1-10 ms, 10 in 10-100 ms (100 in all).
    assert figures.histogram_quantile_ms(METRICS_BEFORE, METRICS_AFTER, 0.5) == pytest.approx(1.0)
    assert figures.histogram_quantile_ms(METRICS_BEFORE, METRICS_AFTER, 0.9) == pytest.approx(10.0)
    p99 = figures.histogram_quantile_ms(METRICS_BEFORE, METRICS_AFTER, 0.99)
    assert p99 == pytest.approx(10.0 + 90.0 * 0.9)
    assert figures.histogram_quantile_ms(METRICS_AFTER, METRICS_AFTER) is None  # nothing new
    assert figures.histogram_quantile_ms("", "") is None  # a server without the metric


def test_status_endpoint_choice() -> None:
    lat = figures.EndpointLatency(1, 0, 1.0, 1, 1, 1, 1, 1, 1)
    busy = figures.EndpointLatency(9, 0, 9.0, 1, 1, 1, 1, 1, 1)
    assert (
        figures.status_endpoint({"GET /api/tasks/{id}": lat, "GET /x": busy}, None)
        == "GET /api/tasks/{id}"
    )
    assert (
        figures.status_endpoint({"GET /a": lat, "GET /b": busy, "POST /c": busy}, None) == "GET /b"
    )
    assert figures.status_endpoint({"GET /a": lat}, "GET /nope") is None
    assert figures.status_endpoint({"POST /a": lat}, None) is None


def test_short_path() -> None:
    assert (
        figures.short_path("/usr/lib/python3/site-packages/bson/__init__.py:7")
        == "bson/__init__.py:7"
    )


def parse(argv: list[str]) -> LoadSettings:
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    parser.add_argument("--locustfile-unused", help=argparse.SUPPRESS)
    return from_args(LoadSettings, parser.parse_args(argv))


def test_load_plan_from_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMDIAG_RATE", raising=False)
    plan = load_plan(
        parse(
            [
                "--scenario",
                "polling-storm",
                "--rate",
                "12",
                "-O",
                "segments=3000",
                "-O",
                "view=summary",
                "-O",
                "segments_per_second=0.5",
            ]
        )
    )
    assert plan.scenario == "polling_storm"
    # The storm's tabs poll once a second: rate x 1 s of them.
    assert plan.users == default_users(12, "polling_storm") == 12
    assert default_users(12) == default_users(12, "dashboard") == 240
    assert default_users(10, "frontend_tabs", {"poll_interval_s": 2.5}) == 25
    assert plan.options == {"segments": 3000, "view": "summary", "segments_per_second": 0.5}
    assert plan.record().params == {"segments": 3000, "view": "summary", "segments_per_second": 0.5}
    monkeypatch.setenv("MEMDIAG_RATE", "7")
    assert load_plan(parse([])).rate_per_s == 7.0
    with pytest.raises(UsageError, match="is not a scenario"):
        load_plan(parse(["--scenario", "stampede"]))
    with pytest.raises(UsageError, match="KEY=VALUE"):
        _options(["segments"])
    monkeypatch.setenv("MEMDIAG_RATE", "fast")
    parser = argparse.ArgumentParser()
    add_load_arguments(parser)
    args = parser.parse_args([])  # building the parser never reads the environment
    with pytest.raises(UsageError, match="MEMDIAG_RATE='fast'"):
        from_args(LoadSettings, args)


def test_db_figures_count_the_status_path_only_when_tagged() -> None:
    from profiling.probes.dbevidence import CommandFigures, DbEvidence

    rows = (
        CommandFigures("find", "tasks", "status", 100, 400_000),
        CommandFigures("find", "tasks", "worker-merge", 30, 90_000),
        CommandFigures("update", "tasks", "worker-merge", 30, 3_000),
    )
    evidence = DbEvidence(100, 160, 493_000, 1.6, 4930.0, 1.0, 4000.0, rows)
    db = figures.db_figures(evidence)
    assert db.reads_per_poll == 1.0  # the worker's 30 finds are not the poll's
    assert db.reply_bytes_per_poll == 4000.0
    assert db.commands_per_poll == 1.6
    assert db.by_command["find"].commands == 130
    untagged = DbEvidence(
        100,
        160,
        493_000,
        1.6,
        4930.0,
        None,
        None,
        tuple(CommandFigures(r.command, r.collection, "", r.commands, r.reply_bytes) for r in rows),
    )
    assert figures.db_figures(untagged).reads_per_poll == 1.3


def test_output_folder_must_not_hold_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from profiling.run.options import output_dir

    args = argparse.Namespace(output=tmp_path / "out", name=None)
    assert output_dir(args, "compare") == tmp_path / "out"
    (tmp_path / "out" / "runs" / "01-lean-r1").mkdir(parents=True)
    with pytest.raises(UsageError, match="already holds runs"):
        output_dir(args, "compare")
    fresh = output_dir(argparse.Namespace(output=None, name="my run"), "compare")
    assert fresh.parent.name == "reports" and fresh.name.endswith("-my-run")


def test_sweep_plans_vary_one_parameter() -> None:
    from profiling.commands.sweep import plan_for
    from profiling.run.plans import LoadPlan

    base = LoadPlan(rate_per_s=5.0, users=100, options={"segments": 300})
    assert plan_for(base, "rate", 20).rate_per_s == 20.0
    assert plan_for(base, "users", 7).users == 7
    assert plan_for(base, "segments", 3000).options == {"segments": 3000}
    assert plan_for(base, "segments-per-second", 50).options["segments_per_second"] == 50
