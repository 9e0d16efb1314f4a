"""memdiag ablate: the fix report's claims, measured one switch at a time.

From a base design (`--base`), each change of the fix report is undone alone
(memory-first, lean: leave-one-out) or applied alone (db-polling: add-one-in), under
the scenario that exercises it (`profiling.fixreport.ablation`); one interleaved schedule per
scenario; then a claims table (`profiling.verdict.claims`) beside each scenario's comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from loadtests.names import DASHBOARD, POLLING_STORM
from profiling.artefacts import dumps
from profiling.commands.finish import Judged, Reporter, finish
from profiling.errors import ExitCode, UsageError
from profiling.fixreport import ablation
from profiling.fixreport.ablation import SCENARIOS, AblationPlan
from profiling.report.write import write_ablation_reports, write_text
from profiling.results.folder import RUN_FILE, RUNS_DIR, RunResult, read_json
from profiling.run.audio import SpeechSpec, cached_folder, ensure_speech, is_built, missing_tools
from profiling.run.options import (
    add_load_arguments,
    add_output_arguments,
    add_server_arguments,
    load_plan,
    output_dir,
    server_plan,
)
from profiling.run.phases import check_loads
from profiling.run.preflight import preflight
from profiling.run.progress import RichProgress
from profiling.run.runner import Job, LoadPlan, Outcome, ServerPlan, run_schedule, schedule
from profiling.run.servers import parse_configurations
from profiling.run.settings import LoadSettings, ServerSettings, from_args
from profiling.verdict.ablation_gate import unequal_work
from profiling.verdict.claims import PLAN_FILE, evaluate, plan_document, verdict_text

HELP = "measure the fix report's claims: one switch flipped at a time from a base design"
DESCRIPTION = (
    HELP + ".\n\n--base memory-first undoes each change alone (leave-one-out), --base "
    "db-polling applies each alone (add-one-in), --base lean undoes lean's extras; each "
    "switch runs under the scenario that exercises it (polling storm, a dashboard with "
    "more than 100 active tasks, short tasks, uploads of 10 minutes of real speech as WAV "
    "and MP3), and the report's claims table gives each claim its measured effect and a verdict. "
    "--rate, --users and -O apply to the polling storm; the other scenarios bring their "
    "own load. Phases default to 10 s steady, 5 s warm-up (20 s for the polling storm, "
    "whose full-view designs ramp for about 20 s), 1 s cool-down (--quick: 5 s warm-up for "
    "every scenario, 2 repeats, the headline switches only). --missed adds the causes the "
    "report missed (allocators, the driver, malloc_trim, orjson or a summary in memory, two "
    "server processes), each applied alone. Exits 3 when a run is invalid or a scenario's "
    "work is not comparable, 130 when interrupted. "
    "--attribution adds, after the dashboard's measured runs, one tracemalloc run per "
    "dashboard configuration (1 frame by default: a peak needs no tracebacks) that records "
    "each list request's allocation peak: the claims' list_alloc_peak_bytes rows, where RSS "
    "is too coarse; a profiled run never gates RSS. The uploads' speech is made once by "
    "espeak-ng and ffmpeg and cached (`memdiag audio`; under a minute the first time, "
    "never for --dry-run); --audio-dir uploads your own files instead.\n\n"
    "example: memdiag ablate --base memory-first --dry-run\n"
    "example: memdiag ablate --base db-polling --switches poll_source,copy_on_merge --repeat 4\n"
    "example: memdiag ablate --quick\n"
    "example: memdiag ablate --missed --dry-run   (the causes the report missed, too)"
)
# Steady, warm-up and cool-down seconds of every run (--quick: the same, but the storm
# too warms up for 5 s). 10 s steady keeps the default ablation within 25 minutes here.
_PHASES = (10.0, 5.0, 1.0)
# The uploads the fix report's gc_after_conversion claim is about: 10 min of speech.
SPEECH = SpeechSpec()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("ablation")
    g.add_argument("--base", default="memory-first", help="memory-first, db-polling or lean")
    g.add_argument(
        "--switches",
        help="comma-separated switches or groups to flip (default: every change the base "
        "makes; see --dry-run)",
    )
    g.add_argument(
        "--missed",
        action="store_true",
        help="also measure every cause the report missed that the base offers (allocators, "
        "driver_async, malloc_trim, orjson_in_memory, summary_in_memory, two_processes); "
        "--switches names them one by one",
    )
    g.add_argument("--repeat", type=int, help="measured runs per configuration (default 4)")
    g.add_argument("--quick", action="store_true", help="a CI smoke run of a few minutes")
    g.add_argument(
        "--dry-run", action="store_true", help="print the plan and its time; run nothing"
    )
    g.add_argument(
        "--audio-dir",
        type=Path,
        help="the audio files the uploads scenario sends (gc_after_conversion); default: "
        "10 min of speech, WAV and MP3, made once and cached (memdiag audio)",
    )
    g.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="go on with an ablation that stopped part-way (Ctrl-C, a crash), in its folder "
        "DIR: the runs it holds are kept, the rest measured; run with the options that "
        "made it",
    )
    g.add_argument(
        "--attribution",
        action="store_true",
        help="one tracemalloc run per dashboard configuration: each list request's "
        "allocation peak (about 40 s a run)",
    )
    add_load_arguments(parser)
    add_server_arguments(parser)
    add_output_arguments(parser, profile=False)
    # A per-request peak needs no tracebacks, and 25 frames stall the full-view designs.
    parser.set_defaults(tracemalloc_frames=1)


def load_settings(args: argparse.Namespace) -> LoadSettings:
    """The polling storm's load options, ablate's phases (`_PHASES`) the defaults that a
    value on the command line or in the environment overrides."""
    duration, warmup, cooldown = _PHASES
    phases = {"duration": duration, "warmup": warmup, "cooldown": cooldown}
    return replace(from_args(LoadSettings, args, defaults=phases), scenario=POLLING_STORM.cli_name)


def own_warmups(args: argparse.Namespace, load: LoadSettings) -> bool:
    """A warm-up given (or set in the environment) applies to every scenario; else a
    full run gives each its own (`load_for`)."""
    return not args.quick and "warmup" not in load.origin


def build_plan(args: argparse.Namespace) -> AblationPlan:
    switches = [s.strip() for s in (args.switches or "").split(",") if s.strip()]
    if args.audio_dir is not None and not args.audio_dir.is_dir():
        raise UsageError(f"--audio-dir {args.audio_dir}: no such folder")
    # Without --audio-dir, the uploads' speech is made (SPEECH) when the tools are here.
    have = ["audio_dir"] if args.audio_dir is not None or not missing_tools() else []
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 4)
    return ablation.plan(
        args.base, switches, repeat=repeat, quick=args.quick, have=have, missed=args.missed
    )


def load_for(
    base: LoadPlan, load: str, args: argparse.Namespace, *, own_warmups: bool = False
) -> LoadPlan:
    """The storm takes the command's load options; the others their own rate and users."""
    scen = SCENARIOS[load]
    options: dict[str, str | int | float] = dict(scen.options)
    if own_warmups and scen.warmup_s is not None:
        base = replace(base, warmup_s=scen.warmup_s)
    if load == POLLING_STORM.short:
        return replace(base, scenario=scen.scenario, options={**options, **base.options})
    if scen.needs == "audio_dir" and args.audio_dir is not None:
        options["audio_dir"] = str(args.audio_dir)
    return replace(
        base,
        scenario=scen.scenario,
        rate_per_s=scen.rate_per_s,
        users=scen.users,
        options=options,
        status_endpoint=None,
    )


# The scenarios whose attribution runs measure something (the server records per-request
# allocation peaks for its list requests only).
ATTRIBUTION_LOADS = (DASHBOARD.short,)


def attribution_loads(p: AblationPlan, args: argparse.Namespace) -> list[str]:
    if not getattr(args, "attribution", False):
        return []
    loads = [load for load in p.loads() if load in ATTRIBUTION_LOADS]
    if not loads:
        raise UsageError(
            "--attribution measures the dashboard's list requests: flip active_list_limit "
            "or list_cleanup (--switches), or drop --attribution"
        )
    return loads


def jobs_for(
    p: AblationPlan, base: LoadPlan, args: argparse.Namespace, *, own_warmups: bool = False
) -> list[tuple[str, list[Job]]]:
    """One interleaved schedule per scenario, numbered on from the one before; with
    --attribution, the dashboard's ends with one tracemalloc run per configuration."""
    out: list[tuple[str, list[Job]]] = []
    order = 1
    profiled = attribution_loads(p, args)
    for load in p.loads():
        configs = parse_configurations(",".join(p.configs(load)))
        profile = "tracemalloc" if load in profiled else "none"
        plan = load_for(base, load, args, own_warmups=own_warmups)
        jobs = schedule(configs, p.repeat, plan, profile=profile, start_order=order)
        order += len(jobs)
        out.append((load, jobs))
    return out


def run_all(
    schedules: list[tuple[str, list[Job]]],
    out: Path,
    server: ServerPlan,
    progress: RichProgress,
    *,
    resume: bool = False,
) -> Outcome:
    """Each scenario's schedule with its own server threads; stop at the first that ends
    early (Ctrl-C), keeping every run that finished."""
    runs: list[RunResult] = []
    for load, jobs in schedules:
        workers = SCENARIOS[load].server_workers
        plan = server if workers is None or server.workers else replace(server, workers=workers)
        outcome = run_schedule(jobs, out, plan, progress=progress, resume=resume)
        runs += outcome.runs
        if outcome.interrupted:
            return Outcome(runs, interrupted=True)
    return Outcome(runs)


def _describer(p: AblationPlan) -> Callable[[Job], str]:
    keys = {(s.load, s.spec): s.key for s in p.steps}
    order = list(dict.fromkeys(s.key for s in p.steps))
    # A reference that is no step's variant (db-polling for driver_async from memory-first).
    references = {
        (s.load, s.reference): s.key
        for s in p.steps
        if s.reference and (s.load, s.reference) not in keys
    }
    by_scenario = {SCENARIOS[load].scenario: load for load in p.loads()}

    def describe(job: Job) -> str:
        load = by_scenario.get(job.load.scenario or "", "")
        key = keys.get((load, job.config.label))
        what = f"{key} ({order.index(key) + 1}/{len(order)})" if key else "base"
        if key is None and (ref := references.get((load, job.config.label))) is not None:
            what = f"reference of {ref}"
        run = f"r{job.repeat}" if job.profile == "none" else f"attribution ({job.profile})"
        return f"{what} [{job.load.scenario}] {job.config.label} {run}"

    return describe


def run(args: argparse.Namespace) -> int:
    if args.scenario is not None or args.locustfile is not None:
        raise UsageError("ablate picks the scenario per switch; drop --scenario/--locustfile")
    p = build_plan(args)
    load_options = load_settings(args)
    if args.resume is not None:
        load_options = resumed_size(resumed_folder(args, p), load_options)
    own = own_warmups(args, load_options)
    base = load_plan(load_options)
    server = server_plan(from_args(ServerSettings, args))  # checked, even for a dry run
    phases_s = {}
    for load in p.loads():
        plan = load_for(base, load, args, own_warmups=own)
        phases_s[load] = plan.warmup_s + plan.duration_s + plan.cooldown_s
    text = ablation.describe(p, phases_s) + _attribution_text(p, args, phases_s)
    text += _audio_text(p, args)
    if args.dry_run:
        print(text)
        return ExitCode.OK
    if not p.steps:
        raise UsageError("nothing to measure: " + "; ".join(f"{k} {w}" for k, w in p.skipped))
    out = args.resume if args.resume is not None else output_dir(args, f"ablate-{p.base}")
    # The speech's folder is known before it is made: the uploads' jobs name it.
    make_speech = _uploads(p) and args.audio_dir is None
    if make_speech:
        args.audio_dir = cached_folder(SPEECH)
    # The pre-flight fits the storm's size before anything is made, started or written.
    schedules = jobs_for(p, base, args, own_warmups=own)
    fitted = iter(preflight([job for _, jobs in schedules for job in jobs], load_options))
    schedules = [(load, [next(fitted) for _ in jobs]) for load, jobs in schedules]
    if make_speech:
        ensure_speech(SPEECH, progress=_speech_progress)
    # Every run's load checked before the first starts: a mistake is no lost hour.
    check_loads([job for _, jobs in schedules for job in jobs])
    # The plan first, so an interrupted folder can still be judged (memdiag report DIR).
    write_text(out / PLAN_FILE, dumps(plan_document(p)))
    print(text, file=sys.stderr)
    describe = _describer(p)
    progress = RichProgress(sum(len(j) for _, j in schedules), describe=describe)
    try:
        outcome = run_all(schedules, out, server, progress, resume=args.resume is not None)
    finally:
        progress.close()
    return finish(outcome, out, ablation_reporter(p, args.name or out.name), html=not args.no_html)


def resumed_folder(args: argparse.Namespace, p: AblationPlan) -> Path:
    """--resume DIR: an ablation's folder whose plan is the one this command makes."""
    folder: Path = args.resume
    if args.output is not None:
        raise UsageError("--resume DIR goes on in DIR; drop -o")
    plan = folder / PLAN_FILE
    if not plan.is_file():
        raise UsageError(f"--resume {folder}: no {PLAN_FILE} there (not an ablation's folder)")
    if read_json(plan) != json.loads(dumps(plan_document(p))):
        raise UsageError(
            f"--resume {folder} was planned with other switches, base or repeats: give the "
            f"options that made it (its plan: {plan})"
        )
    return folder


def resumed_size(folder: Path, load: LoadSettings) -> LoadSettings:
    """The storm's task size the folder's runs polled, fixed for the runs still to come
    (a pre-flight today might fit another), unless the command fixes one itself."""
    if any(o.startswith("initial_segments=") for o in load.option):
        return load
    for run_json in sorted((folder / RUNS_DIR).glob(f"*/{RUN_FILE}")):
        scenario = read_json(run_json).get("scenario", {})
        size = scenario.get("params", {}).get("initial_segments")
        if scenario.get("name") == POLLING_STORM.module_name and size is not None:
            return replace(load, option=(*load.option, f"initial_segments={size}"))
    return load


def _uploads(p: AblationPlan) -> bool:
    return any(SCENARIOS[load].needs == "audio_dir" for load in p.loads())


def _audio_text(p: AblationPlan, args: argparse.Namespace) -> str:
    if not _uploads(p):
        return ""
    if args.audio_dir is not None:
        return f"\nuploads send the audio files of {args.audio_dir}"
    folder = cached_folder(SPEECH)
    what = f"{SPEECH.minutes:g} min of speech (speech.wav, speech.mp3)"
    if is_built(folder, SPEECH):
        return f"\nuploads send {what} from the cache: {folder}"
    return f"\nuploads send {what}, built first into {folder} (under a minute, once)"


def _speech_progress(line: str) -> None:
    print(f"memdiag ablate: {line} (once; under a minute)", file=sys.stderr, flush=True)


def _attribution_text(p: AblationPlan, args: argparse.Namespace, phases_s: dict[str, float]) -> str:
    lines = []
    for load in attribution_loads(p, args):
        n = len(p.configs(load))
        # A profiled run costs its phases, its overhead and the two snapshots (a few s).
        minutes = n * (phases_s[load] + SCENARIOS[load].overhead_s + 5.0) / 60
        lines.append(
            f"\n+ {n} attribution run(s) under {SCENARIOS[load].scenario} (tracemalloc, "
            f"{args.tracemalloc_frames} frame(s)), about {minutes:.0f} min more; "
            "list_cleanup judged on list_alloc_peak_bytes"
        )
    return "".join(lines)


def ablation_reporter(p: AblationPlan, name: str) -> Reporter:
    """The claims table and each scenario's comparison; the switches' own work
    differences (`ablation_gate.EXPECTED_WORK`) do not make the work unequal."""

    def report(runs: Sequence[RunResult], out: Path, html: bool) -> Judged:
        result = evaluate(p, runs, name=name)
        write_ablation_reports(result, out, html=html)
        return Judged(
            [f"{r.change:>8} {r.key:<24} {verdict_text(r)}" for r in result.claims if r.primary],
            result.invalid_reasons,
            "; ".join(unequal_work(result)),
            work_where="see each scenario's report",
        )

    return report
