"""Equal work and a DB that keeps up: work figures, in-flight parsing, the not-comparable
marks (compare, report, JSON, diff, gate exit 3) and the DB-bound rule."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

from loadtests.results import (
    GeneratorStats,
    LoadResult,
    PhaseResult,
    TaskWork,
    WorkResult,
)
from profiling.cli import main
from profiling.report.narrative import work_cell
from profiling.report.render import render_json, render_markdown, verdict_paragraph
from profiling.results import figures
from profiling.results.folder import WorkFigures, load_run, load_runs, run_json, run_record
from profiling.results.validate import SchemaError
from profiling.verdict.comparable import (
    POLLS_PER_S,
    TASK_GROWTH,
    TASK_SEGMENTS,
    TASKS,
    db_bound,
    not_stationary,
    run_db_bound,
    work_differences,
)
from profiling.verdict.compare import compare

BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def load_result(work: WorkResult | None, *, steady_s: float = 20.0) -> LoadResult:
    phase = PhaseResult(steady_s, 0, 0, {}, {}, {})
    return LoadResult(
        schema_version=1,
        scenario="polling_storm",
        host="http://127.0.0.1:1",
        users=10,
        workers=1,
        workers_reported=1,
        warmup_s=5.0,
        late_threshold_ms=50.0,
        targets_per_s={"poll": 40.0},
        phases={"total": phase, "steady": phase},
        generator=GeneratorStats((), False),
        work=work,
    )


def test_work_figures_from_a_load_result() -> None:
    tasks = {
        "a": TaskWork(3000, 3004, 3_100_000, 3_104_000, 200),
        "b": TaskWork(3000, 3010, 3_100_500, 3_110_000, 201),
        "c": TaskWork(2990, 3002, 3_090_000, 3_102_000, 199),
    }
    started = 1_700_000_000.0
    work = WorkResult(3000, started + 3.5, started + 5.0, tasks)
    w = figures.work_figures(load_result(work))
    assert w is not None
    assert (w.tasks, w.target_segments) == (3, 3000)
    assert (w.segments_start, w.segments_end) == (3000, 3004)  # medians over the tasks
    assert (w.status_bytes_start, w.status_bytes_end) == (3_100_000, 3_104_000)
    assert w.polls == 600 and w.polls_per_s == 30.0  # 600 polls over 20 steady seconds
    assert w.ready_after_s == pytest.approx(3.5)  # load start = steady start - warm-up
    assert w.task_segments == 3002
    assert w.growth_pct == pytest.approx(4 / 30)
    never = figures.work_figures(load_result(replace(work, ready_at_s=None)))
    assert never is not None and never.ready_after_s is None
    # A list request that showed all three tasks is one poll served, not three.
    listed = figures.work_figures(load_result(replace(work, requests=200)))
    assert listed is not None and (listed.polls, listed.polls_per_s) == (200, 10.0)
    unbounded = figures.work_figures(load_result(replace(work, steady_start_s=None)))
    assert unbounded is not None and unbounded.ready_after_s is None
    assert figures.work_figures(load_result(None)) is None  # a locustfile of the user's own
    assert figures.work_figures(load_result(replace(work, tasks={}))) is None


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def server_metrics() -> tuple[CollectorRegistry, Histogram, Gauge]:
    """The server's exposition: the histogram observed as each status request starts
    (requests in flight, itself included) and the gauge of those in flight now."""
    registry = CollectorRegistry()
    histogram = Histogram(
        "memdiag_status_in_flight",
        "Status requests in flight as one starts (itself included)",
        buckets=BUCKETS,
        registry=registry,
    )
    gauge = Gauge("memdiag_status_in_flight_now", "Status requests in flight", registry=registry)
    return registry, histogram, gauge


def test_in_flight_from_two_prometheus_scrapes() -> None:
    registry, histogram, gauge = server_metrics()
    for n in (1, 1, 2, 3):  # warm-up: not counted
        histogram.observe(n)
    before = scrape(registry)
    for n in (1, 2, 3, 5, 9, 9, 2, 1):
        histogram.observe(n)
    gauge.set(4)
    after = scrape(registry)
    found = figures.in_flight(before, after)
    assert found is not None
    assert found.polls == 8
    assert found.max_in_flight == 16  # 9 lands in the (8, 16] bucket
    assert found.mean_in_flight == pytest.approx(32 / 8)
    assert not found.above_buckets
    # Nothing between the scrapes: no polls, nothing in flight.
    idle = figures.in_flight(after, after)
    assert idle is not None and (idle.polls, idle.max_in_flight, idle.mean_in_flight) == (0, 0, 0)
    histogram.observe(700)
    over = figures.in_flight(after, scrape(registry))
    assert over is not None and over.above_buckets and over.max_in_flight == 512
    # A server without the histogram, or two scrapes of different processes.
    assert figures.in_flight("", after) is None
    assert figures.in_flight("", "") is None
    other, histogram2, _ = server_metrics()
    histogram2.observe(1)
    assert figures.in_flight(after, scrape(other)) is None


def test_db_reply_bytes_per_second() -> None:
    from profiling.probes.dbevidence import CommandFigures, DbEvidence

    rows = (CommandFigures("find", "tasks", "status", 100, 400_000),)
    evidence = DbEvidence(100, 100, 400_000, 1.0, 4000.0, 1.0, 4000.0, rows)
    assert figures.db_figures(evidence, 20.0).reply_bytes_per_s == 20_000.0
    assert figures.db_figures(evidence).reply_bytes_per_s is None


def test_new_fields_round_trip_and_old_runs_still_load(fixture_runs: Path, tmp_path: Path) -> None:
    run = load_run(sorted((fixture_runs / "three-modes" / "runs").iterdir())[0])
    assert run.work is not None and run.calibration is not None
    assert run.status_in_flight is not None and run.db is not None
    assert run.db.reply_bytes_per_s is not None
    assert run.calibration.ratio == pytest.approx(
        run.calibration.find_one_ms / run.calibration.decode_ms
    )
    (tmp_path / "run.json").write_text(run_json(run))
    assert replace(load_run(tmp_path), timeline={}) == replace(run, timeline={})
    document = json.loads(run_json(run))
    for key in ("work", "calibration", "status_in_flight"):
        del document[key]
    del document["db"]["reply_bytes_per_s"]
    (tmp_path / "run.json").write_text(json.dumps(document))
    old = load_run(tmp_path)
    assert (old.work, old.calibration, old.status_in_flight) == (None, None, None)
    assert old.db is not None and old.db.reply_bytes_per_s is None
    document["work"] = {**json.loads(run_json(run))["work"], "tasks": -1}
    (tmp_path / "run.json").write_text(json.dumps(document))
    with pytest.raises(SchemaError, match=r"field work\.tasks: expected a count \(0 or more\)"):
        load_run(tmp_path)


def test_unequal_work_is_not_comparable(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "unequal"))
    assert c.valid and not c.comparable
    sizes = {n.configuration: n for n in c.not_comparable if n.metric == TASK_SEGMENTS}
    assert set(sizes) == {"memory-first", "lean"}  # the baseline is not unlike itself
    assert sizes["lean"].baseline == "db-polling" and sizes["lean"].diff_pct is not None
    assert sizes["lean"].diff_pct > 10
    paragraph = verdict_paragraph(c)
    # The mark comes before any claim of better or worse.
    assert paragraph.index("NOT COMPARABLE") < paragraph.index("memory-first: peak RSS")
    assert "lean polled tasks of" in paragraph
    document = json.loads(render_json(c))
    assert document["comparable"] is False
    assert {n["metric"] for n in document["not_comparable"]} == {TASK_SEGMENTS, TASK_GROWTH}
    assert document["configurations"]["db-polling"]["work"]["tasks"] == 4
    # Equal work: nothing marked.
    three = compare(load_runs(fixture_runs / "three-modes"))
    assert three.comparable and "NOT COMPARABLE" not in verdict_paragraph(three)
    assert json.loads(render_json(three))["not_comparable"] == []


def test_poll_rate_difference_is_not_comparable(fixture_runs: Path) -> None:
    runs = load_runs(fixture_runs / "three-modes")
    slow = [
        replace(r, work=replace(r.work, polls_per_s=r.work.polls_per_s * 0.85))
        if r.configuration == "lean" and r.work is not None
        else r
        for r in runs
    ]
    c = compare(slow)
    assert [(n.configuration, n.metric) for n in c.not_comparable] == [("lean", POLLS_PER_S)]
    assert "lean served" in verdict_paragraph(c)


def test_stationary_and_growing_work() -> None:
    base = WorkFigures(4, 3000, 3000, 3030, 3.1e6, 3.13e6, 800, 40.0, 6.0)
    runs = load_runs(Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "single")
    run = replace(runs[0], work=base)
    assert not_stationary(run) is None  # +1 %: stationary
    growing = replace(run, work=replace(base, segments_end=3400))
    flag = not_stationary(growing)
    assert flag is not None and flag.metric == TASK_GROWTH and flag.run == run.repeat
    assert flag.diff_pct == pytest.approx(13.3, abs=0.1)
    assert "grew from 3,000 to 3,400 segments" in flag.describe()
    from_nothing = replace(run, work=replace(base, segments_start=0, segments_end=50))
    assert not_stationary(from_nothing) is not None
    assert not_stationary(replace(run, work=None)) is None  # not recorded: not checked
    own = runs[0].work
    assert own is not None
    # Grown 13 % from its own size: still within 10 % of the others' task size (the mean
    # of start and end), but not stationary.
    grown = replace(runs[0], work=replace(own, segments_end=own.segments_start * 1.13))
    c = compare([grown, *runs[1:]])
    assert [n.metric for n in c.not_comparable] == [TASK_GROWTH]
    assert "tasks grew within the steady phase in db-polling (+13 %)" in verdict_paragraph(c)


def test_runs_without_work_are_not_checked(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "branch-a") + load_runs(fixture_runs / "branch-b"))
    assert c.comparable
    md = render_markdown(c)
    assert "The work was not recorded" in md


def test_db_bound_rule_on_both_criteria() -> None:
    by_cpu = db_bound(153.5, 0.0, None, 2.0)
    assert by_cpu is not None and by_cpu.by_cpu and not by_cpu.by_latency
    assert by_cpu.reason() == "its CPU averaged 154 % of one core"
    by_latency = db_bound(40.0, 1.0, 300.0, 500.0)  # 300 ms of DB in a 500 ms poll
    assert by_latency is not None and by_latency.by_latency and not by_latency.by_cpu
    assert by_latency.db_ms_per_poll == 300.0 and "300 ms" in by_latency.reason()
    both = db_bound(80.0, 1.0, 2513.0, 3000.0)
    assert both is not None and both.by_cpu and both.by_latency
    assert db_bound(79.9, 1.0, 200.0, 500.0) is None  # under both thresholds
    assert db_bound(None, 0.0, 2513.0, 5.0) is None  # no reads per poll: no DB time
    assert db_bound(None, None, None, None) is None


def test_db_bound_in_the_verdict_and_json(fixture_runs: Path) -> None:
    c = compare(load_runs(fixture_runs / "unequal"))
    bound = c.config("db-polling")
    assert bound is not None and bound.db_bound is not None and bound.db_bound.by_cpu
    assert bound.db_bound.runs_bound == 2
    assert all(run_db_bound(r) is not None for r in bound.runs)
    paragraph = verdict_paragraph(c)
    assert "db-polling was bound by the database: its CPU averaged 1" in paragraph
    assert "lean was bound" not in paragraph
    document = json.loads(render_json(c))
    assert document["configurations"]["db-polling"]["db_bound"]["by_cpu"] is True
    assert document["configurations"]["lean"]["db_bound"] is None
    three = compare(load_runs(fixture_runs / "three-modes"))
    assert all(conf.db_bound is None for conf in three.configurations)
    assert "DB calibration | mongo-java-server 1.47.0: find_one" in render_markdown(three)


def test_gate_exits_3_on_unequal_work(
    fixture_runs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    config = tmp_path / "gate.toml"
    config.write_text('[configurations."lean"]\npeak_rss_mib = 500\n')
    assert main(["gate", str(fixture_runs / "unequal"), "--config", str(config)]) == 3
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("memdiag gate: work not comparable (more than 10 % apart from db-pol")
    assert "memory-first: task size +" in err and "db-polling: tasks grew +" in err
    assert "\n" not in err
    assert "lean peak_rss_mib <= 500  passed" in captured.out  # the table is still shown
    assert "no: task size +" in captured.out  # and the work behind the mark
    # The same thresholds on equal work pass.
    assert main(["gate", str(fixture_runs / "three-modes"), "--config", str(config)]) == 0


def test_diff_marks_unequal_branches_and_gate_refuses_them(
    fixture_runs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    a, b = fixture_runs / "work-a", fixture_runs / "work-b"
    out = tmp_path / "d"
    assert main(["diff", str(a), str(b), "-o", str(out), "--no-html"]) == 0
    printed = capsys.readouterr().out
    assert "NOT COMPARABLE" in printed and "work-b polled tasks of" in printed
    assert "no: task size -" in printed
    document = json.loads((out / "summary.json").read_text())
    assert document["comparable"] is False
    assert document["not_comparable"][0]["configuration"] == "work-b"
    step = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    config = tmp_path / "gate.toml"
    config.write_text("max_peak_rss_increase_pct = 1000\n")
    assert main(["gate", str(out), "--config", str(config), "--baseline", str(a)]) == 3
    assert step.read_text().startswith("## memdiag gate: NOT COMPARABLE")
    # Against a baseline of other work (smaller tasks, as another machine's pre-flight
    # may fit): the peak RSS change would judge the task size, not the build.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    capsys.readouterr()
    assert main(["gate", str(a), "--config", str(config), "--baseline", str(a)]) == 0
    capsys.readouterr()
    assert main(["gate", str(b), "--config", str(config), "--baseline", str(a)]) == 3
    out, err = capsys.readouterr()
    row = next(line for line in out.splitlines() if "lean peak RSS vs baseline" in line)
    assert "not comparable" in row and "the baseline's lean" in row
    assert err.startswith("memdiag gate: work not comparable with the baseline")
    assert "lean polled tasks of" in err and "\n" not in err.strip()


def test_compare_exits_3_on_unequal_work(
    fixture_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from profiling.commands.finish import comparison_reporter, finish
    from profiling.run.plans import Outcome

    for name, expected in (("unequal", 3), ("three-modes", 0)):
        out = tmp_path / name
        shutil.copytree(fixture_runs / name, out)
        assert (
            finish(Outcome(load_runs(out)), out, comparison_reporter(name), html=False) == expected
        )
        err = capsys.readouterr().err
        assert ("memdiag: work not comparable" in err) == (expected == 3)


def test_live_entries_from_a_scrape_and_through_run_json(
    fixture_runs: Path, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    gauge = Gauge("memdiag_live_entries", "entries", ["structure"], registry=registry)
    gauge.labels("transcription_tasks").set(0)
    gauge.labels("task_temp_dirs").set(7)
    found = figures.live_entries(scrape(registry))
    assert found == {"transcription_tasks": 0, "task_temp_dirs": 7}
    assert figures.live_entries(scrape(CollectorRegistry())) is None
    run = load_run(fixture_runs / "single" / "runs" / "01-db-polling-r1")
    assert run.live_entries is None and "live_entries" not in run_record(run)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(run_json(replace(run, live_entries=found)))
    assert load_run(folder).live_entries == found


def test_a_server_that_answers_fewer_polls_than_were_sent_did_not_keep_up() -> None:
    from profiling.results.figures import served_short
    from profiling.results.folder import WorkFigures

    def work(polls_per_s: float) -> WorkFigures:
        return WorkFigures(
            tasks=4, target_segments=2000, segments_start=2000.0, segments_end=2010.0,
            status_bytes_start=2e6, status_bytes_end=2e6, polls=int(polls_per_s * 20),
            polls_per_s=polls_per_s,
        )  # fmt: skip

    reason = served_short("polling_storm", 10.0, 20.0, work(4.04))
    assert reason is not None and "4.04 status polls/s of the 10/s" in reason
    assert "--rate" in reason and "initial_segments" in reason  # it says what fits instead
    assert served_short("polling_storm", 10.0, 20.0, work(9.6)) is None  # within 5 %
    # A short steady phase: the few polls in flight at the stop are not a shortfall.
    assert served_short("polling_storm", 10.0, 5.0, work(9.46)) is None
    assert served_short("polling_storm", 10.0, 5.0, work(7.0)) is not None
    assert served_short("dashboard", 10.0, 20.0, work(1.0)) is None  # lists, not polls
    assert served_short("polling_storm", 10.0, 20.0, None) is None


def test_tasks_that_live_their_whole_life_in_the_run_are_compared_by_count() -> None:
    # Task churn says its tasks end in the run: they grow from 0 segments to their end.
    base = WorkFigures(17, 0, 0, 33, 500, 24_000, 89, 8.9, tasks_end_in_run=True)
    runs = load_runs(Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "single")
    churn = replace(runs[0], work=base)
    assert not_stationary(churn) is None  # growing is what these tasks do
    mid_life = replace(base, segments_end=20)  # caught earlier in their lives: same work
    assert work_differences("a", base, "b", mid_life) == []
    assert work_differences("a", base, "b", replace(base, tasks=16)) == []  # one task
    fewer = work_differences("a", base, "b", replace(base, tasks=14))
    assert [(n.metric, n.value, n.diff_pct) for n in fewer] == [(TASKS, 14, -17.6)]
    assert fewer[0].describe() == "b ran 14 tasks in the steady phase, a 17 (-18 %)"
    slower = work_differences("a", base, "b", replace(base, polls_per_s=7.5))
    assert [n.metric for n in slower] == [POLLS_PER_S]
    # A storm whose long tasks grow (not pre-grown, but not ending either): their size is
    # the work, so a starved worker's small tasks still show, and growth is flagged.
    storm = replace(base, tasks=4, tasks_end_in_run=False)
    assert not_stationary(replace(runs[0], work=storm)) is not None
    assert [
        n.metric for n in work_differences("a", storm, "b", replace(storm, segments_end=20))
    ] == [TASK_SEGMENTS]
    # Both must say so: against a run that does not, sizes are compared as before.
    assert [n.metric for n in work_differences("a", storm, "b", mid_life)] == [TASK_SEGMENTS]
    document = json.loads(run_json(churn))
    assert document["work"]["tasks_end_in_run"] is True
    assert "tasks_end_in_run" not in json.loads(run_json(runs[0]))["work"]  # omitted: False
    # The report says what was compared: the tasks run, not a size.
    a = [replace(r, work=base) for r in runs]
    c = compare([*a, *(replace(r, configuration="b", spec="b") for r in a)])
    assert c.comparable
    assert work_cell(c.configurations[0], c) == "17 tasks run, 8.9 polls/s"
    assert "Equal work: 17 - 17 tasks run, each through its whole life" in verdict_paragraph(c)
