"""The causes the fix report missed: per-configuration runtime options (`mode@...`), the
`--missed` rows of the ablation plan, claims judged against a step's reference, and the
stale-reply metric of two server processes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from profiling.cli import main
from profiling.errors import UsageError
from profiling.fixreport import ablation
from profiling.fixreport.ablation import CLAIMS, SCENARIOS, AblationPlan, Step, plan
from profiling.results.folder import RunResult, load_runs
from profiling.run.launch import server_processes
from profiling.run.plans import ServerPlan
from profiling.run.servers import Configuration, parse_configurations
from profiling.verdict.claims import (
    CLAIM_METRICS,
    PLAN_FILE,
    STALE_REPLIES,
    evaluate,
    plan_document,
    plan_from_document,
)

MISSED = ("driver_async", "malloc_trim", "orjson_in_memory", "summary_in_memory",
          "two_processes", "release_bodies")  # fmt: skip
ALLOCATOR_ROWS = ["arenas_2", "jemalloc", "mmap_fixed", "pymalloc_off"]


@pytest.mark.parametrize(
    ("text", "label", "allocator", "driver", "processes"),
    [
        ("db-polling@driver=pymongo-async", "db-polling@driver=pymongo-async", None,
         "pymongo-async", None),
        ("memory-first@processes=2+jemalloc", "memory-first@jemalloc+processes=2",
         "jemalloc", None, 2),
        ("lean:status_view=full,json_encoder=json@driver=motor+arenas=2",
         "lean:status_view=full,json_encoder=json@arenas=2+driver=motor", "arenas=2",
         "motor", None),
        ("memory-first@arenas=2", "memory-first@arenas=2", "arenas=2", None, None),
        ("memory-first@pymalloc=off+arenas=2+mmap_threshold=131072",
         "memory-first@arenas=2+mmap_threshold=131072+pymalloc=off", "arenas=2", None, None),
        ("memory-first", "memory-first", None, None, None),
    ],
)  # fmt: skip
def test_runtime_options_parse_and_round_trip(
    text: str, label: str, allocator: str | None, driver: str | None, processes: int | None
) -> None:
    (config,) = parse_configurations(text)
    assert (config.label, config.allocator, config.driver, config.processes) == (
        label, allocator, driver, processes,
    )  # fmt: skip
    (again,) = parse_configurations(config.spec)
    assert again == config
    # Runtime options never reach the switch arguments (the run adds them itself).
    assert "--driver" not in config.server_args() and "--processes" not in config.server_args()


def test_the_same_runtime_options_in_another_order_are_one_configuration() -> None:
    a, b = parse_configurations(
        "memory-first@processes=2+jemalloc,memory-first@jemalloc+processes=2"
    )
    assert a.spec == b.spec and (a.label, b.label) == (a.spec, f"{a.spec}#2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db-polling@driver=motr", "driver='motr': use driver=motor or driver=pymongo-async"),
        ("db-polling@driver=motor+driver=pymongo-async", "two drivers"),
        ("memory-first@processes=0", "processes='0': use processes=N with N >= 1"),
        ("memory-first@processes=two", "use processes=N"),
        ("memory-first@processes=2+processes=3", "two process counts"),
        ("memory-first@jemalloc+arenas=2", "two allocators"),
        ("memory-first@tcmalloc", "unknown allocator 'tcmalloc'"),
        ("memory-first@", "memory-first@ has nothing after @"),
        ("memory-first@jemalloc+", "unknown allocator ''"),
        ("memory-first@mmap_threshold=lots", "mmap_threshold='lots': give a number of bytes"),
        ("memory-first@pymalloc=on", "pymalloc='on': the one choice is pymalloc=off"),
        ("memory-first@trim_threshold=1+trim_threshold=2", "trim_threshold given twice"),
    ],
)
def test_bad_runtime_items_name_the_fix(text: str, message: str) -> None:
    with pytest.raises(UsageError, match="^--configs: .*" + message.replace("(", r"\(")) as info:
        parse_configurations(text)
    assert "\n" not in str(info.value)


def test_a_configurations_own_runtime_options_win_over_the_commands() -> None:
    server = ServerPlan(processes=3, driver="motor")
    assert server_processes(Configuration("x", "memory-first", processes=2), server) == 2
    assert server_processes(Configuration("x", "memory-first"), server) == 3
    assert server_processes(Configuration("x", "memory-first", processes=1), server) == 1


def test_the_default_plans_are_unchanged_by_the_missed_causes() -> None:
    for base in ablation.BASES:
        for quick in (False, True):
            keys = {s.key for s in plan(base, quick=quick).steps}
            assert not keys & {*MISSED, *ablation.ALLOCATORS}, (base, quick)


@pytest.mark.parametrize(
    ("base", "offered"),
    [
        ("memory-first", [*ALLOCATOR_ROWS, *MISSED]),
        ("db-polling", [*ALLOCATOR_ROWS, "driver_async", "release_bodies"]),
        ("lean", [*ALLOCATOR_ROWS, "malloc_trim", "two_processes"]),
    ],
)
def test_missed_adds_every_row_the_base_offers(base: str, offered: list[str]) -> None:
    default = [s.key for s in plan(base).steps]
    p = plan(base, missed=True)
    assert [s.key for s in p.steps] == [*default, *offered]
    new = [s for s in p.steps if s.key in offered]
    assert all(s.with_change and CLAIMS[s.claim].change == "missed" for s in new)
    # Quick plus --missed: the headline switches and the missed rows.
    assert [s.key for s in plan(base, quick=True, missed=True).steps] == [
        *ablation.QUICK[base], *offered,
    ]  # fmt: skip


def test_each_missed_row_has_its_configuration_scenario_metric_and_reference() -> None:
    steps = {s.key: s for s in plan("memory-first", missed=True).steps}
    expect = {
        "driver_async": ("db-polling@driver=pymongo-async", "storm", "peak_rss_bytes",
                         "db-polling"),
        "malloc_trim": ("memory-first:malloc_trim=true", "churn", "final_rss_bytes", ""),
        "orjson_in_memory": ("memory-first:json_encoder=orjson", "storm", "server_cpu_percent", ""),
        "summary_in_memory": ("memory-first:status_view=summary", "storm", "peak_rss_bytes", ""),
        "two_processes": ("memory-first@processes=2", "storm", "peak_rss_bytes", ""),
        "release_bodies": ("memory-first:release_body_after_send=true", "storm",
                           "peak_rss_bytes", ""),
        "arenas_2": ("memory-first@arenas=2", "storm", "peak_rss_bytes", ""),
        "mmap_fixed": ("memory-first@mmap_threshold=131072", "storm", "peak_rss_bytes", ""),
        "pymalloc_off": ("memory-first@pymalloc=off", "storm", "peak_rss_bytes", ""),
    }  # fmt: skip
    for key, (spec, load, metric, reference) in expect.items():
        step = steps[key]
        assert (step.spec, step.load, CLAIMS[key].metrics[0], step.reference) == (
            spec, load, metric, reference,
        ), key  # fmt: skip
        assert all(m in CLAIM_METRICS for m in CLAIMS[key].metrics)
        assert CLAIMS[key].expected.kind == "qualitative"
        assert "not in the report" in CLAIMS[key].wording
    assert "stale_replies_per_poll" in CLAIMS["two_processes"].metrics
    assert "final_rss_bytes" in CLAIMS["driver_async"].metrics
    # From db-polling the driver row is judged against the base itself.
    (from_db,) = plan("db-polling", ["driver_async"]).steps
    assert from_db.reference == "" and from_db.spec == "db-polling@driver=pymongo-async"
    assert plan("lean", ["two_processes"]).steps[0].spec == "lean@processes=2"


def test_a_reference_joins_its_schedule_once_and_parses() -> None:
    p = plan("memory-first", ["driver_async", "two_processes"], repeat=2)
    assert p.configs("storm") == [
        "memory-first", "db-polling", "db-polling@driver=pymongo-async",
        "memory-first@processes=2",
    ]  # fmt: skip
    assert p.runs() == 4 * 2
    # With the headline row, db-polling is already in the schedule: not twice.
    both = plan("memory-first", [ablation.ALL, "driver_async"])
    assert both.configs("storm").count("db-polling") == 1
    for base in ablation.BASES:
        full = plan(base, missed=True, have=["audio_dir"])
        for load in full.loads():
            configs = parse_configurations(",".join(full.configs(load)))
            assert [c.label for c in configs] == full.configs(load)
    text = ablation.describe(p, 20.0)
    assert "memory-first | db-polling | db-polling@driver=pymongo-async" in text
    assert "(all: --missed)" in ablation.describe(plan("lean"), 20.0)


def test_the_reference_survives_the_plan_document() -> None:
    p = plan("memory-first", ["driver_async", "malloc_trim"])
    doc = plan_document(p)
    assert doc["steps"][0]["reference"] == "db-polling"
    assert "reference" not in doc["steps"][1]  # the base: as plans before it were written
    assert plan_from_document(json.loads(json.dumps(doc))) == p


def _fixture(fixture_runs: Path) -> tuple[AblationPlan, list[RunResult]]:
    folder = fixture_runs / "ablation"
    p = plan_from_document(json.loads((folder / PLAN_FILE).read_text(encoding="utf-8")))
    return p, load_runs(folder)


def test_a_claim_is_judged_against_its_reference(fixture_runs: Path) -> None:
    """The fixture's storm has memory-first, a variant and db-polling: a row whose
    reference is db-polling compares the variant with db-polling, not with the base."""
    p, runs = _fixture(fixture_runs)
    variant = "memory-first:checkpoint_interval_s=1,copy_on_merge=true"
    step = Step("driver_async", "driver_async", "storm", (), variant, True, "db-polling")
    judged = evaluate(replace(p, steps=(step,)), runs)
    rows = {r.metric: r for r in judged.claims}
    row = rows["peak_rss_bytes"]
    assert (row.with_change, row.without_change) == (variant, "db-polling")
    assert (row.n_with, row.n_without) == (4, 4)
    # memory-first's variant holds far less than db-polling: a significant saving.
    assert row.saving is not None and row.saving > 0.2 and row.verdict == "confirmed"
    against_base = evaluate(replace(p, steps=(replace(step, reference=""),)), runs)
    base_row = next(r for r in against_base.claims if r.metric == "peak_rss_bytes")
    assert base_row.without_change == "memory-first"
    assert base_row.without_median != row.without_median
    assert row.switch == variant or row.switch.startswith("all changes")


def test_a_reference_that_never_ran_is_not_measured(fixture_runs: Path) -> None:
    p, runs = _fixture(fixture_runs)
    step = Step("driver_async", "driver_async", "storm", (), "db-polling@driver=pymongo-async",
                True, "db-polling")  # fmt: skip
    row = next(r for r in evaluate(replace(p, steps=(step,)), runs).claims if r.primary)
    assert row.without_change == "db-polling" and row.n_with == 0
    assert row.verdict == "not measured"


def test_stale_replies_are_a_share_of_the_steady_polls(fixture_runs: Path) -> None:
    p, runs = _fixture(fixture_runs)
    variant = "memory-first:checkpoint_interval_s=1,copy_on_merge=true"

    def with_stale(run: RunResult) -> RunResult:
        if run.work is None:
            return run
        # The variant plays the second process: a third of its replies are stale.
        stale = run.work.polls // 3 if run.configuration == variant else 0
        return replace(run, work=replace(run.work, stale_polls=stale))

    metric = CLAIM_METRICS["stale_replies_per_poll"]
    assert metric is STALE_REPLIES
    assert metric.extract(runs[0]) is None, "a record made before stale replies were counted"
    step = Step("two_processes", "two_processes", "storm", (), variant, True)
    judged = evaluate(replace(p, steps=(step,)), [with_stale(r) for r in runs])
    row = next(r for r in judged.claims if r.metric == "stale_replies_per_poll")
    assert row.with_median is not None and 0.3 < row.with_median < 0.34
    assert row.without_median == 0.0 and row.verdict == "worse"
    # Stale replies are a cost whatever its peak RSS says (issue 23): the row reads "a
    # cost" and names them. Without them, the row that expects a cost reads its peak RSS:
    # the opposite when the second process holds less (below).
    primary = next(r for r in judged.claims if r.primary)
    assert primary.metric == "peak_rss_bytes" and primary.saving is not None
    assert primary.saving < 0 and primary.verdict == "a cost"
    assert primary.detail.startswith("Stale status replies")
    swapped = replace(step, with_change=False)  # the base, not the variant, is "with"
    flipped = next(r for r in evaluate(replace(p, steps=(swapped,)), runs).claims if r.primary)
    assert flipped.saving is not None and flipped.saving > 0 and flipped.verdict == "the opposite"
    assert SCENARIOS[CLAIMS["two_processes"].load].scenario == "polling_storm"


def test_ablate_missed_dry_run_lists_them_and_the_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ablate", "--missed", "--dry-run"]) == 0
    text = capsys.readouterr().out
    for key in MISSED:
        assert key in text
    assert "db-polling@driver=pymongo-async" in text and "min (estimated)" in text
    assert main(["ablate", "--base", "db-polling", "--switches", "two_processes"]) == 2
    assert "not a change db-polling makes" in capsys.readouterr().err


def test_the_progress_bars_name_a_reference_run() -> None:
    from profiling.cli import build_parser
    from profiling.commands import ablate
    from profiling.run.options import load_plan

    args = build_parser().parse_args(["ablate", "--switches", "driver_async", "--quick"])
    p = ablate.build_plan(args)
    ((storm, jobs),) = ablate.jobs_for(p, load_plan(ablate.load_settings(args)), args)
    assert storm == "storm" and len(jobs) == 3 * 2
    describe = ablate._describer(p)
    assert [describe(j) for j in jobs[:3]] == [
        "base [polling_storm] memory-first r1",
        "reference of driver_async [polling_storm] db-polling r1",
        "driver_async (1/1) [polling_storm] db-polling@driver=pymongo-async r1",
    ]
    assert [j.config.driver for j in jobs[:3]] == [None, None, "pymongo-async"]


def test_tuning_items_set_their_variables_and_nothing_else() -> None:
    from profiling.probes.allocator import tuning_env

    (config,) = parse_configurations("memory-first@mmap_threshold=131072+pymalloc=off")
    env = tuning_env(config.tuning, {"KEEP": "1"})
    assert env == {"KEEP": "1", "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONMALLOC": "malloc"}
    (plain,) = parse_configurations("memory-first@arenas=2")
    assert plain.tuning == () and tuning_env(plain.tuning, {"A": "b"}) == {"A": "b"}
