"""The ablation plan: which configurations measure which claim of the fix report (pure).

The fix report (INCIDENT.md) attaches an expected saving to each of its eight changes;
the reference server has one switch per change. An ablation flips one switch (or a
named group of switches that only make sense together) at a time from a base:

    memory-first   leave-one-out: each change undone alone (its db-polling value)
    db-polling     add-one-in: each change applied alone (memory-first's value, or
                   lean's for the switches memory-first leaves as db-polling has them)
    lean           leave-one-out of lean's extras (each back to memory-first's value)

plus one row for all of them at once (the report's headline). Each switch is measured
under the scenario that exercises it, with its claim's own metric (`CLAIMS`); one
schedule per scenario, the base and its variants interleaved (A B C A B C). Nothing
here runs anything: `plan(...)` returns frozen values the `ablate` command schedules
and `profiling.claims` judges. The switch values are restated here (profiling/ must
not import the server); a unit test holds them to reference_server/modes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from profiling.errors import UsageError

Scalar = str | int | float

# The presets' values for the switches an ablation flips (reference_server/modes.py).
PRESETS: dict[str, dict[str, str]] = {
    "db-polling": {
        "poll_source": "db", "copy_on_merge": "true", "active_list_limit": "100",
        "gc_after_conversion": "false", "cleanup_at_task_end": "false",
        "list_cleanup": "false", "orphan_sweep_interval_s": "0", "status_view": "full",
        "json_encoder": "json", "segment_storage": "embedded",
        "checkpoint_interval_s": "1", "projections": "false",
    },
    "memory-first": {
        "poll_source": "memory", "copy_on_merge": "false", "active_list_limit": "20",
        "gc_after_conversion": "true", "cleanup_at_task_end": "true",
        "list_cleanup": "true", "orphan_sweep_interval_s": "600", "status_view": "full",
        "json_encoder": "json", "segment_storage": "embedded",
        "checkpoint_interval_s": "-1", "projections": "false",
    },
    "lean": {
        "poll_source": "memory", "copy_on_merge": "false", "active_list_limit": "20",
        "gc_after_conversion": "true", "cleanup_at_task_end": "true",
        "list_cleanup": "false", "orphan_sweep_interval_s": "600", "status_view": "summary",
        "json_encoder": "orjson", "segment_storage": "chunks",
        "checkpoint_interval_s": "2", "projections": "true",
    },
}  # fmt: skip
BASES = tuple(PRESETS)
DIRECTION = {"memory-first": "leave-one-out", "db-polling": "add-one-in", "lean": "leave-one-out"}
# Where the flipped value comes from: the change undone (leave-one-out) or applied.
_OTHER = {"memory-first": ("db-polling",), "db-polling": ("memory-first", "lean"),
          "lean": ("memory-first",)}  # fmt: skip
# Lean's extras over memory-first (list_cleanup differs too, but lean's value is the
# absence of memory-first's gc on the list path: change 7, measured from memory-first).
LEAN_EXTRAS = ("status_view", "json_encoder", "segment_storage", "checkpoint_interval_s",
               "projections")  # fmt: skip
ALL = "all"
MB = 1_000_000  # the report writes MB


@dataclass(frozen=True, slots=True)
class Expected:
    """The saving a claim promises: a fraction of the metric (relative), bytes
    (absolute, on the metric as measured), or only a direction (qualitative)."""

    text: str
    kind: str  # "relative", "absolute", "qualitative"
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class ScenarioLoad:
    """The load of one ablation scenario (the command's phases apply to every one)."""

    name: str  # the key in this plan, e.g. "storm"
    scenario: str  # loadtests scenario
    rate_per_s: float
    users: int
    options: dict[str, Scalar] = field(default_factory=dict)
    needs: str = ""  # a command option without which the scenario cannot run
    note: str = ""
    server_workers: int | None = None  # the server's task threads (None: its default)
    # Seconds a run takes beyond its phases: DB and server start, the readiness wait,
    # the DB calibration (measured here: about 4 s for the storm, 11 s for the dashboard,
    # which pre-grows 220 tasks).
    overhead_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Claim:
    """One change of the fix report as it states it, and how to measure it."""

    key: str  # the switch, or a group's name, or "all"
    change: str  # "1-2", "3", ..., "lean", "headline"
    wording: str
    expected: Expected
    load: str  # a SCENARIOS key
    metrics: tuple[str, ...]  # the first is the claim's own; the others are context
    switches: tuple[str, ...] = ()  # for a group (or "all": every switch of the base)
    note: str = ""


SCENARIOS: dict[str, ScenarioLoad] = {
    "storm": ScenarioLoad("storm", "polling_storm", 10.0, 50),
    # More than 100 active tasks per user, so the limit of 100 or 20 decides how many
    # documents a list loads; two users, small tasks. Each task needs a worker thread of
    # its own to pre-grow and stay "transcribing" (the original ran a thread per task):
    # a queued task would never reach its size, and the run would wait for it in vain.
    "dashboard": ScenarioLoad(
        "dashboard", "dashboard", 2.0, 2,
        {"tasks_per_user": 110, "segments": 60, "initial_segments": 50,
         "segments_per_second": 0.1, "words_per_segment": 8},
        server_workers=240, overhead_s=12.0,
    ),
    # Many short tasks that complete, are cancelled or fail in the worker: what an
    # ended task leaves behind (a tab per task, so 8 users poll about once a second).
    "churn": ScenarioLoad("churn", "task_churn", 8.0, 8),
    "uploads": ScenarioLoad(
        "uploads", "uploads", 0.2, 2, {"expect_upload_status": "any"},
        needs="audio_dir", overhead_s=10.0,
    ),
}  # fmt: skip

STORM_METRICS = ("peak_rss_bytes", "rss_growth_mib_per_min", "server_cpu_percent", "status_p99_ms")
CLAIMS: dict[str, Claim] = {
    c.key: c
    for c in (
        Claim("poll_source", "1-2",
              "Polls of a running task read the in-memory copy instead of the DB: about "
              "5-50 MB less loaded per poll, depending on the size of segments",
              Expected("5-50 MB per poll", "absolute", 5 * MB, 50 * MB), "storm",
              ("db_reply_bytes_per_poll", *STORM_METRICS)),
        Claim("copy_on_merge", "3",
              "Merging a status update into the DB task no longer copies the task first: "
              "one full copy less per update",
              Expected("10-20 %", "relative", 0.10, 0.20), "storm",
              ("peak_rss_bytes", "db_reply_bytes_per_s")),
        Claim("active_list_limit", "4",
              "The active-task query sorts newest first and loads 20 documents instead "
              "of 100: 80 % less memory for that query",
              Expected("80 %", "relative", 0.80, None), "dashboard",
              ("db_reply_bytes_per_s", "peak_rss_bytes", "status_p99_ms")),
        Claim("gc_after_conversion", "5",
              "After the pydub conversion to WAV the AudioSegment is deleted and "
              "gc.collect() runs: 100 MB or more per audio file",
              Expected("100 MB or more per file", "absolute", 100 * MB, None), "uploads",
              ("final_rss_bytes", "peak_rss_bytes")),
        Claim("cleanup_at_task_end", "6",
              "The worker's finally: pops the task from the four per-task dicts and runs "
              "gc.collect(): 5-10 MB per finished task",
              Expected("5-10 MB per finished task", "qualitative"), "churn",
              ("final_rss_bytes", "live_entries", "rss_growth_mib_per_min", "peak_rss_bytes"),
              note="measured as the RSS the run ends with, beside the entries the four "
              "dicts still hold"),
        Claim("list_cleanup", "7",
              "The task-list endpoint deletes its raw lists, runs gc.collect() and counts "
              "with count_by_user instead of loading everything: 20-30 % per list call",
              Expected("20-30 %", "relative", 0.20, 0.30), "dashboard",
              ("peak_rss_bytes", "status_p99_ms", "db_reply_bytes_per_s")),
        Claim("orphan_sweep_interval_s", "8",
              "A background job every 10 minutes removes orphaned entries from the four "
              "in-memory dicts: no long-run leak",
              Expected("no long-run leak", "qualitative"), "churn",
              ("rss_growth_mib_per_min", "live_entries", "final_rss_bytes"),
              note="the sweep runs every 600 s: a shorter run never sees it fire"),
        Claim("checkpoint_interval_s", "1",
              "Updates happen in the in-memory dict; the DB is written when the task "
              "ends, not on every update",
              Expected("less memory (no figure given)", "qualitative"), "storm",
              ("peak_rss_bytes", "db_reply_bytes_per_s")),
        Claim("status_view", "lean",
              "A poll returns a small status view, never the segments (not in the report)",
              Expected("less memory and CPU per poll", "qualitative"), "storm",
              STORM_METRICS),
        Claim("json_encoder", "lean",
              "Responses are encoded with orjson (not in the report: json.dumps of the "
              "in-memory task on every poll)",
              Expected("less CPU per poll", "qualitative"), "storm",
              ("server_cpu_percent", "status_p99_ms", "peak_rss_bytes")),
        Claim("segment_storage", "lean",
              "Segments live in chunk documents '<task>:<n>', so the task document "
              "stays small (not in the report)",
              Expected("less memory and fewer DB bytes", "qualitative"), "storm",
              ("peak_rss_bytes", "db_reply_bytes_per_s")),
        Claim("projections", "lean",
              "DB reads skip the segments (not in the report)",
              Expected("fewer DB bytes", "qualitative"), "storm",
              ("db_reply_bytes_per_s", "peak_rss_bytes")),
        # Groups: switches that only make sense together.
        Claim("summary_orjson", "lean",
              "A summary view encoded with orjson: lean's poll path, which needs both",
              Expected("less memory and CPU per poll", "qualitative"), "storm",
              STORM_METRICS, switches=("status_view", "json_encoder")),
        Claim("summary_reads", "lean",
              "A summary view read from the DB without its segments (a summary alone "
              "still loads them)",
              Expected("fewer DB bytes per poll", "qualitative"), "storm",
              ("db_reply_bytes_per_poll", *STORM_METRICS),
              switches=("status_view", "projections")),
        Claim("all_lean", "lean",
              "Everything lean adds over memory-first at once: what the report did not "
              "consider, fixed",
              Expected("less memory, CPU and latency per poll", "qualitative"), "storm",
              ("peak_rss_bytes", *STORM_METRICS[1:])),
        # Causes the report missed, measured the same way (opt-in: --switches).
        Claim("arenas_2", "missed",
              "glibc keeps a malloc arena per thread, and memory freed after decoding large "
              "documents may never go back to the OS (not in the report): MALLOC_ARENA_MAX=2",
              Expected("less RSS (no figure given)", "qualitative"), "storm",
              ("final_rss_bytes", "peak_rss_bytes", "rss_growth_mib_per_min")),
        Claim("jemalloc", "missed",
              "The same with jemalloc instead of glibc's malloc (not in the report)",
              Expected("less RSS (no figure given)", "qualitative"), "storm",
              ("final_rss_bytes", "peak_rss_bytes", "rss_growth_mib_per_min")),
        Claim(ALL, "headline",
              "Polling once a second no longer loads the whole task with its segments: "
              "memory falls by 80-90 %",
              Expected("80-90 %", "relative", 0.80, 0.90), "storm",
              ("peak_rss_bytes", *STORM_METRICS[1:], "db_reply_bytes_per_poll")),
    )
}  # fmt: skip
GROUPS = {k: c.switches for k, c in CLAIMS.items() if c.switches}
# Switches flipped with another because alone they give a run that cannot be valid:
# polls of the DB (poll_source=db) see a task only as often as it is checkpointed, and
# memory-first writes it once, at the end; so undoing change 1-2 undoes both halves.
COMPANIONS = {("memory-first", "poll_source"): ("checkpoint_interval_s",)}
# Steps left out for the same reason: db-polling writing only at the end, its polls of
# the DB would never see the tasks grow (the run waits for readiness, then is invalid).
EXCLUDED = {("db-polling", "checkpoint_interval_s")}
# Which groups each base offers (a group needs every one of its switches in the base).
_BASE_GROUPS = {"memory-first": (), "db-polling": ("summary_reads",), "lean": ("summary_orjson",)}
# Allocators: the base under another malloc (`mode@ALLOCATOR`); not in the default plan.
ALLOCATORS = {"arenas_2": "arenas=2", "jemalloc": "jemalloc"}
QUICK = {"memory-first": ("poll_source", ALL), "db-polling": ("poll_source", ALL),
         "lean": ("status_view", ALL)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """One configuration measured against its scenario's base for one claim."""

    key: str
    claim: str  # the CLAIMS key (ALL from lean is "all_lean")
    load: str
    overrides: tuple[str, ...]  # "switch=value" over the base
    spec: str  # the configuration, "memory-first:poll_source=db", or a preset's name
    with_change: bool  # True when this configuration has the change (add-one-in)


@dataclass(frozen=True, slots=True)
class AblationPlan:
    base: str
    direction: str
    steps: tuple[Step, ...]
    repeat: int
    skipped: tuple[tuple[str, str], ...] = ()  # (key, why it is not measured)

    def loads(self) -> list[str]:
        return list(dict.fromkeys(s.load for s in self.steps))

    def configs(self, load: str) -> list[str]:
        """The base first, then each variant measured under `load` (one schedule)."""
        return [self.base, *(s.spec for s in self.steps if s.load == load)]

    def runs(self) -> int:
        return sum(len(self.configs(load)) for load in self.loads()) * self.repeat

    def estimated_s(self, phases_s: float) -> float:
        """Wall time if every run takes its phases plus its scenario's `overhead_s`."""
        return sum(
            len(self.configs(load)) * self.repeat * (phases_s + SCENARIOS[load].overhead_s)
            for load in self.loads()
        )


def available(base: str) -> list[str]:
    """The keys an ablation from `base` can flip: switches that differ from the other
    design(s), its groups, and ALL."""
    if base not in PRESETS:
        raise UsageError(f"--base {base!r}: use one of {', '.join(BASES)}")
    mine = PRESETS[base]
    keys = []
    for switch in mine:
        if (base == "lean" and switch not in LEAN_EXTRAS) or (base, switch) in EXCLUDED:
            continue
        if any(PRESETS[o][switch] != mine[switch] for o in _OTHER[base]):
            keys.append(switch)
    return [*keys, *_BASE_GROUPS[base], *ALLOCATORS, ALL]


def _flipped(base: str, switch: str) -> str:
    mine = PRESETS[base][switch]
    for other in _OTHER[base]:
        if PRESETS[other][switch] != mine:
            return PRESETS[other][switch]
    raise UsageError(f"switch {switch} is the same in {base} and {', '.join(_OTHER[base])}")


def claim_key(base: str, key: str) -> str:
    return "all_lean" if (base, key) == ("lean", ALL) else key


def _step(base: str, key: str) -> Step:
    name = claim_key(base, key)
    claim = CLAIMS[name]
    direction = DIRECTION[base]
    if key in ALLOCATORS:
        # The change is the allocator under the base design: with it, the variant.
        return Step(key, name, claim.load, (), f"{base}@{ALLOCATORS[key]}", True)
    if key == ALL:
        # Every change at once is the other design itself (the headline's comparison).
        other = "memory-first" if base in ("db-polling", "lean") else "db-polling"
        return Step(key, name, claim.load, (), other, direction == "add-one-in")
    switches = (*(claim.switches or (key,)), *COMPANIONS.get((base, key), ()))
    overrides = tuple(f"{s}={_flipped(base, s)}" for s in switches)
    spec = f"{base}:{','.join(overrides)}"
    return Step(key, name, claim.load, overrides, spec, direction == "add-one-in")


def plan(
    base: str,
    switches: Sequence[str] | None = None,
    *,
    repeat: int = 4,
    quick: bool = False,
    have: Sequence[str] = (),
) -> AblationPlan:
    """The ablation from `base` over `switches` (default: every key `available` offers,
    or the headline ones with `quick`). `have` names the command options given (e.g.
    "audio_dir"): a scenario that needs a missing one is skipped with the reason."""
    keys = available(base)
    if switches:
        unknown = [s for s in switches if s not in CLAIMS or s == "all_lean"]
        if unknown:
            raise UsageError(
                f"--switches: unknown switch {unknown[0]!r}; {base} offers {', '.join(keys)}"
            )
        absent = [s for s in switches if s not in keys]
        if absent:
            raise UsageError(
                f"--switches: {absent[0]!r} is not a change {base} makes "
                f"({DIRECTION[base]}); it offers {', '.join(keys)}"
            )
        chosen = list(dict.fromkeys(switches))
    else:
        chosen = [k for k in keys if (k in QUICK[base] if quick else k not in ALLOCATORS)]
    if repeat < 1:
        raise UsageError(f"--repeat {repeat}: need at least 1")
    steps, skipped = [], []
    for key in chosen:
        load = SCENARIOS[CLAIMS[claim_key(base, key)].load]
        if load.needs and load.needs not in have:
            flag = "--" + load.needs.replace("_", "-")
            skipped.append((key, f"needs {flag} (the {load.scenario} scenario's input)"))
            continue
        steps.append(_step(base, key))
    return AblationPlan(base, DIRECTION[base], tuple(steps), repeat, tuple(skipped))


def describe(p: AblationPlan, phases_s: float) -> str:
    """The plan as `ablate --dry-run` prints it, with its estimated wall time."""
    lines = [f"ablation from {p.base} ({p.direction}), {p.repeat} interleaved repeat(s)"]
    for load in p.loads():
        scen = SCENARIOS[load]
        lines.append(f"  {scen.scenario} ({load}): {' | '.join(p.configs(load))}")
        for step in (s for s in p.steps if s.load == load):
            claim = CLAIMS[step.claim]
            lines.append(
                f"    {step.key:<24} change {claim.change:<8} {claim.metrics[0]:<24} "
                f"claimed {claim.expected.text}"
            )
    for key, why in p.skipped:
        lines.append(f"  not measured: {key}: {why}")
    extra = [k for k in (*ALLOCATORS,) if k not in {s.key for s in p.steps}]
    if extra:
        lines.append(f"  also available with --switches: {', '.join(extra)}")
    minutes = p.estimated_s(phases_s) / 60
    lines.append(f"{p.runs()} runs, about {minutes:.0f} min (estimated)")
    return "\n".join(lines)
