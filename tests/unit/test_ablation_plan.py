"""The ablation plan: which configurations, which scenario and which metric per switch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from profiling.cli import main
from profiling.errors import UsageError
from profiling.fixreport import ablation
from profiling.fixreport.ablation import ALL, CLAIMS, PRESETS, SCENARIOS, plan
from profiling.results.validate import SchemaError
from profiling.run.audio import SpeechSpec
from profiling.run.options import load_plan
from profiling.run.phases import check_loads
from profiling.run.plans import Job
from profiling.run.servers import parse_configurations
from profiling.run.settings import LoadSettings
from profiling.verdict.claims import CLAIM_METRICS, plan_document, plan_from_document
from reference_server import modes


def test_the_restated_presets_are_the_servers() -> None:
    for mode, values in PRESETS.items():
        server = modes.PRESETS[mode].as_dict()
        assert set(values) == set(server), mode
        for switch, text in values.items():
            assert modes.resolve(mode, [f"{switch}={text}"]).as_dict()[switch] == server[switch]


def test_leave_one_out_from_memory_first_undoes_each_change_alone() -> None:
    p = plan("memory-first")
    assert p.direction == "leave-one-out"
    steps = {s.key: s for s in p.steps}
    assert steps["copy_on_merge"].overrides == ("copy_on_merge=true",)
    assert steps["active_list_limit"].overrides == ("active_list_limit=100",)
    # Polls of the DB need the DB written as the task goes: both halves of change 1-2.
    assert steps["poll_source"].overrides == ("poll_source=db", "checkpoint_interval_s=1")
    assert steps[ALL].spec == "db-polling" and not steps[ALL].overrides
    # Change 3 acts on a merge, which memory-first does only at a task's end: it is
    # measured checkpointing every second, against the same without the copy (the
    # checkpoint step's own configuration, so the schedule gains no run).
    merge = steps["copy_on_merge"]
    assert merge.spec == "memory-first:checkpoint_interval_s=1,copy_on_merge=true"
    assert merge.reference == steps["checkpoint_interval_s"].spec
    assert len(p.configs("storm")) == len({s.spec for s in p.steps if s.load == "storm"}) + 1
    # Change 8's 600 s sweep never fires in a run: memory-first stands for it undone,
    # and the sweep runs every 5 s in the configuration that has it.
    sweep = steps["orphan_sweep_interval_s"]
    assert sweep.overrides == ("orphan_sweep_interval_s=5",) and sweep.with_change
    assert not sweep.reference
    # The base has every other change.
    assert all(not s.with_change for s in p.steps if s is not sweep)
    # Switches memory-first shares with db-polling are not changes it makes.
    assert not {"status_view", "json_encoder", "segment_storage", "projections"} & set(steps)


def test_add_one_in_from_db_polling_applies_each_change_alone() -> None:
    p = plan("db-polling")
    steps = {s.key: s for s in p.steps}
    assert all(s.with_change for s in p.steps)
    assert steps["poll_source"].spec == "db-polling:poll_source=memory"
    assert steps["copy_on_merge"].overrides == ("copy_on_merge=false",)
    # The report's 10-minute sweep, measured at 5 s so a short run sees it fire.
    assert steps["orphan_sweep_interval_s"].overrides == ("orphan_sweep_interval_s=5",)
    # lean's values for the switches memory-first leaves as db-polling has them.
    assert steps["segment_storage"].overrides == ("segment_storage=chunks",)
    assert steps["summary_reads"].overrides == ("status_view=summary", "projections=true")
    assert steps[ALL].spec == "memory-first"
    # Writing only at the end, db-polling's polls would never see its tasks grow.
    assert "checkpoint_interval_s" not in steps


def test_lean_undoes_its_extras_back_to_memory_first() -> None:
    p = plan("lean")
    steps = {s.key: s for s in p.steps}
    assert set(steps) == {*ablation.LEAN_EXTRAS, "summary_orjson", ALL}
    assert steps["status_view"].overrides == ("status_view=full",)
    assert steps["summary_orjson"].overrides == ("status_view=full", "json_encoder=json")
    assert steps[ALL].claim == "all_lean" and steps[ALL].spec == "memory-first"


@pytest.mark.parametrize(
    ("switch", "scenario", "metric"),
    [
        ("poll_source", "polling_storm", "db_reply_bytes_per_poll"),
        ("copy_on_merge", "polling_storm", "peak_rss_bytes"),
        ("active_list_limit", "dashboard", "db_reply_bytes_per_s"),
        ("list_cleanup", "dashboard", "peak_rss_bytes"),
        ("cleanup_at_task_end", "task_churn", "final_rss_bytes"),
        ("orphan_sweep_interval_s", "task_churn", "rss_growth_mib_per_min"),
        ("gc_after_conversion", "uploads", "final_rss_bytes"),
        (ALL, "polling_storm", "peak_rss_bytes"),
    ],
)
def test_each_switch_has_its_scenario_and_claim_metric(
    switch: str, scenario: str, metric: str
) -> None:
    claim = CLAIMS[switch]
    assert SCENARIOS[claim.load].scenario == scenario
    assert claim.metrics[0] == metric
    assert all(m in CLAIM_METRICS for m in claim.metrics)


def test_claims_carry_the_reports_expected_savings() -> None:
    assert CLAIMS["copy_on_merge"].expected.text == "10-20 %"
    assert (CLAIMS["copy_on_merge"].expected.low, CLAIMS["copy_on_merge"].expected.high) == (
        0.10,
        0.20,
    )
    assert CLAIMS["active_list_limit"].expected.low == 0.80
    assert CLAIMS["gc_after_conversion"].expected.low == 100 * ablation.MB
    assert CLAIMS["orphan_sweep_interval_s"].expected.kind == "qualitative"
    assert CLAIMS[ALL].expected.text == "80-90 %"


def test_the_dashboard_lists_more_than_the_old_limit() -> None:
    dash = SCENARIOS["dashboard"]
    assert int(dash.options["tasks_per_user"]) > int(PRESETS["db-polling"]["active_list_limit"])


def test_every_schedule_parses_and_keeps_the_base_first() -> None:
    for base in ablation.BASES:
        p = plan(base)
        for load in p.loads():
            configs = parse_configurations(",".join(p.configs(load)))
            assert configs[0].label == base
            # Each step's configuration, after its reference when that is not the base.
            expected: list[str] = []
            for s in (s for s in p.steps if s.load == load):
                expected += [c for c in (s.reference, s.spec) if c and c not in expected]
            assert [c.label for c in configs[1:]] == expected


def test_subset_quick_and_missing_inputs() -> None:
    p = plan("memory-first", ["copy_on_merge", "poll_source"], repeat=3)
    assert [s.key for s in p.steps] == ["copy_on_merge", "poll_source"] and p.repeat == 3
    # One schedule: the base, copy_on_merge's reference (checkpointing) and two variants.
    assert p.runs() == 4 * 3
    quick = plan("memory-first", quick=True)
    assert [s.key for s in quick.steps] == ["poll_source", ALL]
    # Without the uploads' input (no --audio-dir, and no tools to make speech).
    skipped = dict(plan("memory-first").skipped)
    assert "--audio-dir" in skipped["gc_after_conversion"]
    assert "espeak-ng and ffmpeg" in skipped["gc_after_conversion"]
    with_audio = plan("memory-first", have=["audio_dir"])
    assert "gc_after_conversion" in {s.key for s in with_audio.steps}


@pytest.mark.parametrize(
    ("base", "switches", "message"),
    [
        ("memory-first", ["nope"], "unknown switch 'nope'"),
        ("memory-first", ["status_view"], "not a change memory-first makes"),
        ("lean", ["poll_source"], "not a change lean makes"),
        ("db-polling", ["checkpoint_interval_s"], "not a change db-polling makes"),
        ("lean", ["all_lean"], "unknown switch"),
        ("fast", [], "--base 'fast'"),
    ],
)
def test_bad_input_is_a_usage_error(base: str, switches: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan(base, switches)


def test_repeat_must_be_positive() -> None:
    with pytest.raises(UsageError, match="--repeat 0"):
        plan("memory-first", repeat=0)


def test_estimate_and_description() -> None:
    p = plan("memory-first")
    per_load = {load: len(p.configs(load)) * p.repeat for load in p.loads()}
    assert sum(per_load.values()) == p.runs()
    assert p.estimated_s(22.0) == sum(
        n * (22.0 + SCENARIOS[load].overhead_s) for load, n in per_load.items()
    )
    assert p.estimated_s(22.0) > p.runs() * 22.0
    text = ablation.describe(p, 22.0)
    assert "leave-one-out" in text and f"{p.runs()} runs" in text
    assert "not measured: gc_after_conversion" in text


def test_the_plan_round_trips_through_its_document() -> None:
    p = plan("db-polling", ["poll_source", "summary_reads"], repeat=2)
    assert plan_from_document(plan_document(p)) == p
    with pytest.raises(SchemaError, match="not an ablation plan"):
        plan_from_document({"kind": "memdiag-summary"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--switches", "status_view"], "not a change memory-first makes"),
        (["--base", "lean", "--switches", "poll_source"], "not a change lean makes"),
        (["--switches", "nope"], "unknown switch 'nope'"),
        (["--scenario", "dashboard"], "picks the scenario per switch"),
        (["--repeat", "0"], "--repeat 0"),
        (["--audio-dir", "/nonexistent/audio"], "no such folder"),
    ],
)
def test_ablate_refuses_bad_input_before_anything_starts(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    assert main(["ablate", *argv, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_without_audio_dir_the_uploads_claim_is_planned_and_dry_run_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # espeak-ng and ffmpeg are here (bash .ci/setup installs them): the speech can be made.
    monkeypatch.delenv("MEMDIAG_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    argv = ["ablate", "--switches", "gc_after_conversion", "--dry-run"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "gc_after_conversion      change 5" in text and "not measured" not in text
    folder = tmp_path / "cache" / "memdiag" / "audio" / SpeechSpec().folder_name()
    assert f"10 min of speech (speech.wav, speech.mp3), built first into {folder}" in text
    assert not (tmp_path / "cache").exists()
    assert main([*argv, "--audio-dir", str(tmp_path)]) == 0
    assert f"uploads send the audio files of {tmp_path}" in capsys.readouterr().out


def test_without_the_speech_tools_the_uploads_claim_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng, no ffmpeg
    out = tmp_path / "out"
    argv = ["ablate", "--base", "db-polling", "--switches", "gc_after_conversion"]
    assert main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nothing to measure: gc_after_conversion needs --audio-dir" in err
    assert "espeak-ng and ffmpeg to make it (bash .ci/setup)" in err
    assert not out.exists()


def test_ablate_dry_run_prints_the_plan_and_its_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ablate", "--base", "db-polling", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "add-one-in" in text and "db-polling:poll_source=memory" in text
    assert "min (estimated)" in text


def test_the_churn_claims_read_the_live_structure_counts() -> None:
    from loadtests.runner import SCENARIOS as LOAD_SCENARIOS

    for key in ("cleanup_at_task_end", "orphan_sweep_interval_s"):
        assert "live_entries" in CLAIMS[key].metrics
    assert all(s.scenario in LOAD_SCENARIOS for s in SCENARIOS.values())


def test_allocators_are_opt_in_rows_under_the_base() -> None:
    assert "arenas_2" not in {s.key for s in plan("memory-first").steps}
    p = plan("db-polling", ["arenas_2", "jemalloc"])
    steps = {s.key: s for s in p.steps}
    assert steps["arenas_2"].spec == "db-polling@arenas=2" and steps["arenas_2"].with_change
    assert steps["jemalloc"].spec == "db-polling@jemalloc"
    configs = parse_configurations(",".join(p.configs("storm")))
    assert [c.allocator for c in configs] == [None, "arenas=2", "jemalloc"]
    assert "also available with --switches: arenas_2, jemalloc" in ablation.describe(
        plan("lean"), 20.0
    )


def test_the_progress_bars_name_the_switch_and_what_remains() -> None:
    from profiling.cli import build_parser
    from profiling.commands import ablate

    args = build_parser().parse_args(["ablate", "--quick"])
    p = ablate.build_plan(args)
    schedules = ablate.jobs_for(p, load_plan(ablate.load_settings(args)), args)
    assert [load for load, _ in schedules] == ["storm"]
    jobs = schedules[0][1]
    assert [j.order for j in jobs] == list(range(1, 7))  # 3 configurations x 2, interleaved
    describe = ablate._describer(p)
    labels = [describe(j) for j in jobs[:3]]
    assert labels[0].startswith("base [polling_storm] memory-first r1")
    assert labels[1].startswith("poll_source (1/2) [polling_storm] memory-first:poll_source=db")
    assert labels[2] == "all (2/2) [polling_storm] db-polling r1"


def test_the_scenarios_options_are_options_of_their_locustfiles() -> None:
    from loadtests.options import check_option

    for load in SCENARIOS.values():
        for name, value in load.options.items():
            assert check_option(name, value) is None, (load.name, name)


@pytest.mark.parametrize(
    ("argv", "storm", "dashboard"),
    [([], 20.0, 5.0), (["--warmup", "8"], 8.0, 8.0), (["--quick"], 5.0, 5.0)],
)
def test_the_storm_warms_up_past_its_ramp_unless_told_otherwise(
    argv: list[str], storm: float, dashboard: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from profiling.cli import build_parser
    from profiling.commands import ablate

    monkeypatch.delenv("MEMDIAG_WARMUP", raising=False)
    args = build_parser().parse_args(["ablate", *argv])
    load = ablate.load_settings(args)
    base = load_plan(load)
    own = ablate.own_warmups(args, load)
    assert ablate.load_for(base, "storm", args, own_warmups=own).warmup_s == storm
    assert ablate.load_for(base, "dashboard", args, own_warmups=own).warmup_s == dashboard


def test_every_load_is_checked_before_the_first_run(tmp_path: Path) -> None:
    [config] = parse_configurations("memory-first:gc_after_conversion=false")
    storm = load_plan(LoadSettings())
    uploads = replace(storm, scenario="uploads", options={})
    with_audio = replace(uploads, options={"audio_dir": str(tmp_path)})
    check_loads([Job(config, 1, 1, load=storm), Job(config, 1, 2, load=with_audio)])
    with pytest.raises(UsageError, match=r"memory-first:gc_after_conversion=false \(uploads\)"):
        check_loads([Job(config, 1, 1, load=storm), Job(config, 1, 2, load=uploads)])
