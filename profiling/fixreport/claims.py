"""The fix report's claims as data: what each change promises, and where it shows.

docs/INCIDENT.md tells the report change by change; here each change is a `Claim`: its
wording in English, its expected saving (`Expected`), the scenario that exercises it
(`SCENARIOS`, a `ScenarioLoad` each) and its metric, first of the ones it is judged on.
`PRESETS` restates the three designs' switch values (profiling/ must not import the
server; a unit test holds them to reference_server/modes.py). `profiling.fixreport.ablation`
turns these into a plan; `profiling.verdict.claims` judges runs against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtests.names import DASHBOARD, POLLING_STORM, TASK_CHURN, UPLOADS, ScenarioName

Scalar = str | int | float
ALL = "all"
MB = 1_000_000  # the report writes MB

# The presets' values for the switches an ablation flips (reference_server/modes.py).
PRESETS: dict[str, dict[str, str]] = {
    "db-polling": {
        "poll_source": "db", "copy_on_merge": "true", "active_list_limit": "100",
        "gc_after_conversion": "false", "cleanup_at_task_end": "false",
        "list_cleanup": "false", "orphan_sweep_interval_s": "0", "status_view": "full",
        "json_encoder": "json", "segment_storage": "embedded",
        "checkpoint_interval_s": "1", "projections": "false", "malloc_trim": "false",
        "release_body_after_send": "false",
    },
    "memory-first": {
        "poll_source": "memory", "copy_on_merge": "false", "active_list_limit": "20",
        "gc_after_conversion": "true", "cleanup_at_task_end": "true",
        "list_cleanup": "true", "orphan_sweep_interval_s": "600", "status_view": "full",
        "json_encoder": "json", "segment_storage": "embedded",
        "checkpoint_interval_s": "-1", "projections": "false", "malloc_trim": "false",
        "release_body_after_send": "false",
    },
    "lean": {
        "poll_source": "memory", "copy_on_merge": "false", "active_list_limit": "20",
        "gc_after_conversion": "true", "cleanup_at_task_end": "true",
        "list_cleanup": "false", "orphan_sweep_interval_s": "600", "status_view": "summary",
        "json_encoder": "orjson", "segment_storage": "chunks",
        "checkpoint_interval_s": "2", "projections": "true", "malloc_trim": "false",
        "release_body_after_send": "true",
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Expected:
    """The saving a claim promises: a fraction of the metric (relative), bytes
    (absolute, on the metric as measured), or only a direction (qualitative). A row
    that expects the change to cost (`costs`: more of the metric, e.g. a second server
    process) is confirmed by a significant increase, and a saving is then the opposite."""

    text: str
    kind: str  # "relative", "absolute", "qualitative"
    low: float | None = None
    high: float | None = None
    costs: bool = False


@dataclass(frozen=True, slots=True)
class ScenarioLoad:
    """The load of one ablation scenario (the command's phases apply to every one)."""

    scenario_name: ScenarioName  # the loadtests scenario; its short name is the plan's key
    rate_per_s: float
    users: int
    options: dict[str, Scalar] = field(default_factory=dict)
    needs: str = ""  # a command option without which the scenario cannot run
    made_by: str = ""  # what makes that input when the option is not given
    note: str = ""
    server_workers: int | None = None  # the server's task threads (None: its default)
    # Warm-up when the command is not given one: the storm's full-view designs take about
    # 20 s of load to reach their RSS plateau (a steady phase on the ramp reads it as
    # growth); None: the command's default.
    warmup_s: float | None = None
    # Seconds a run takes beyond its phases: DB and server start, the readiness wait,
    # the DB calibration (measured here, a full ablation on a quiet machine: about 3 s
    # for the storm, 1.5 s for the churn and 2-3 s for the uploads; 8.5 s for the
    # dashboard, which pre-grows 220 tasks).
    overhead_s: float = 3.0

    @property
    def name(self) -> str:
        """The key in this plan and in ablation.json: "storm"."""
        return self.scenario_name.short

    @property
    def scenario(self) -> str:
        """The scenario as run.json names it: "polling_storm"."""
        return self.scenario_name.module_name


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


# The plan's keys of the scenarios with a short name (ablation.json stores them).
STORM, CHURN = POLLING_STORM.short, TASK_CHURN.short

_LOADS = (
    ScenarioLoad(POLLING_STORM, 10.0, 50, warmup_s=20.0),
    # More than 100 active tasks per user, so the limit of 100 or 20 decides how many
    # documents a list loads; two users, small tasks. Each task needs a worker thread of
    # its own to pre-grow and stay "transcribing" (the original ran a thread per task):
    # a queued task would never reach its size, and the run would wait for it in vain.
    ScenarioLoad(
        DASHBOARD, 2.0, 2,
        {"tasks_per_user": 110, "segments": 60, "initial_segments": 50,
         "segments_per_second": 0.1, "words_per_segment": 8},
        server_workers=240, overhead_s=9.0,
    ),
    # Many short tasks that complete, are cancelled or fail in the worker: what an
    # ended task leaves behind (a tab per task, so 8 users poll about once a second).
    ScenarioLoad(TASK_CHURN, 8.0, 8),
    ScenarioLoad(
        UPLOADS, 0.2, 2, {"expect_upload_status": "any"},
        needs="audio_dir", made_by="espeak-ng and ffmpeg to make it (bash .ci/setup)",
    ),
)  # fmt: skip
SCENARIOS: dict[str, ScenarioLoad] = {load.name: load for load in _LOADS}

STORM_METRICS = ("peak_rss_bytes", "rss_growth_mib_per_min", "server_cpu_percent", "status_p99_ms")
# An allocator holds freed memory while the load runs, not only after it: judged on the
# peak and the steady phase's median first, then on what is left after the load.
ALLOCATOR_METRICS = (
    "peak_rss_bytes", "median_rss_bytes", "final_rss_bytes", "rss_growth_mib_per_min",
)  # fmt: skip
CLAIMS: dict[str, Claim] = {
    c.key: c
    for c in (
        Claim("poll_source", "1-2",
              "Polls of a running task read the in-memory copy instead of the DB: about "
              "5-50 MB less loaded per poll, depending on the size of segments",
              Expected("5-50 MB per poll", "absolute", 5 * MB, 50 * MB), STORM,
              ("db_reply_bytes_per_poll", *STORM_METRICS),
              note="measured as the BSON the DB sends per poll, at the storm's task size "
              "(-O segments=...); decoded, Python holds several times that"),
        Claim("copy_on_merge", "3",
              "Merging a status update into the DB task no longer copies the task first: "
              "one full copy less per update",
              Expected("10-20 %", "relative", 0.10, 0.20), STORM,
              ("peak_rss_bytes", "db_reply_bytes_per_s"),
              note="measured where merges happen: from memory-first, with a checkpoint "
              "every second, with and without the copy (memory-first merges only when a "
              "task ends); dict.copy() is shallow, so the segments are never copied"),
        Claim("active_list_limit", "4",
              "The active-task query sorts newest first and loads 20 documents instead "
              "of 100: 80 % less memory for that query",
              Expected("80 %", "relative", 0.80, None), DASHBOARD.short,
              ("db_reply_bytes_per_s", "peak_rss_bytes", "status_p99_ms",
               "list_alloc_peak_bytes")),
        Claim("gc_after_conversion", "5",
              "After the pydub conversion to WAV the AudioSegment is deleted and "
              "gc.collect() runs: 100 MB or more per audio file",
              Expected("100 MB or more per file", "absolute", 100 * MB, None), UPLOADS.short,
              ("final_rss_bytes", "peak_rss_bytes")),
        Claim("cleanup_at_task_end", "6",
              "The worker's finally: pops the task from the four per-task dicts and runs "
              "gc.collect(): 5-10 MB per finished task",
              Expected("5-10 MB per finished task", "qualitative"), CHURN,
              ("final_rss_bytes", "live_entries", "rss_growth_mib_per_min", "peak_rss_bytes"),
              note="measured as the RSS the run ends with, beside the entries the four "
              "dicts still hold"),
        Claim("list_cleanup", "7",
              "The task-list endpoint deletes its raw lists, runs gc.collect() and counts "
              "with count_by_user instead of loading everything: 20-30 % per list call",
              Expected("20-30 %", "relative", 0.20, 0.30), DASHBOARD.short,
              ("peak_rss_bytes", "status_p99_ms", "db_reply_bytes_per_s",
               "list_alloc_peak_bytes")),
        Claim("orphan_sweep_interval_s", "8",
              "A background job every 10 minutes removes orphaned entries from the four "
              "in-memory dicts: no long-run leak",
              Expected("no long-run leak", "qualitative"), CHURN,
              ("rss_growth_mib_per_min", "live_entries", "final_rss_bytes"),
              note="measured with the sweep every 5 s: memory-first's runs every 600 s, "
              "which a run of a minute never sees fire, so from memory-first the sweep "
              "every 5 s is set against memory-first itself (the sweep undone, in effect)"),
        Claim("checkpoint_interval_s", "1",
              "Updates happen in the in-memory dict; the DB is written when the task "
              "ends, not on every update",
              Expected("less memory (no figure given)", "qualitative"), STORM,
              ("peak_rss_bytes", "db_reply_bytes_per_s")),
        Claim("status_view", "lean",
              "A poll returns a small status view, never the segments (not in the report)",
              Expected("less memory and CPU per poll", "qualitative"), STORM,
              STORM_METRICS),
        Claim("json_encoder", "lean",
              "Responses are encoded with orjson (not in the report: json.dumps of the "
              "in-memory task on every poll)",
              Expected("less CPU per poll", "qualitative"), STORM,
              ("server_cpu_percent", "status_p99_ms", "peak_rss_bytes")),
        Claim("segment_storage", "lean",
              "Segments live in chunk documents '<task>:<n>', so the task document "
              "stays small (not in the report)",
              Expected("less memory and fewer DB bytes", "qualitative"), STORM,
              ("peak_rss_bytes", "db_reply_bytes_per_s")),
        Claim("projections", "lean",
              "DB reads skip the segments (not in the report)",
              Expected("fewer DB bytes", "qualitative"), STORM,
              ("db_reply_bytes_per_s", "peak_rss_bytes")),
        # Groups: switches that only make sense together.
        Claim("summary_orjson", "lean",
              "A summary view encoded with orjson: lean's poll path, which needs both",
              Expected("less memory and CPU per poll", "qualitative"), STORM,
              STORM_METRICS, switches=("status_view", "json_encoder")),
        Claim("summary_reads", "lean",
              "A summary view read from the DB without its segments (a summary alone "
              "still loads them)",
              Expected("fewer DB bytes per poll", "qualitative"), STORM,
              ("db_reply_bytes_per_poll", *STORM_METRICS),
              switches=("status_view", "projections")),
        Claim("all_lean", "lean",
              "Everything lean adds over memory-first at once: what the report did not "
              "consider, fixed",
              Expected("less memory, CPU and latency per poll", "qualitative"), STORM,
              ("peak_rss_bytes", *STORM_METRICS[1:])),
        # Causes the report missed, measured the same way (opt-in: --missed, --switches;
        # profiling.fixreport.missed says how each is applied).
        Claim("arenas_2", "missed",
              "glibc keeps a malloc arena per thread, and memory freed after decoding large "
              "documents may never go back to the OS (not in the report): MALLOC_ARENA_MAX=2",
              Expected("less RSS (no figure given)", "qualitative"), STORM,
              ALLOCATOR_METRICS),
        Claim("jemalloc", "missed",
              "The same with jemalloc instead of glibc's malloc (not in the report)",
              Expected("less RSS (no figure given)", "qualitative"), STORM,
              ALLOCATOR_METRICS),
        Claim("mmap_fixed", "missed",
              "glibc's mmap threshold rises to the largest freed mmapped block (up to "
              "32 MiB), so 1 MiB reply bodies move into the heap, which keeps their pages "
              "(not in the report): MALLOC_MMAP_THRESHOLD_ fixed at 128 KiB",
              Expected("less RSS (no figure given)", "qualitative"), STORM,
              ALLOCATOR_METRICS),
        Claim("pymalloc_off", "missed",
              "Python's own small-object allocator keeps its 1 MiB arenas while any object "
              "in them lives (not in the report): PYTHONMALLOC=malloc",
              Expected("less RSS (no figure given)", "qualitative"), STORM,
              ALLOCATOR_METRICS),
        Claim("driver_async", "missed",
              "db-polling's polls go through motor, which runs PyMongo in a thread pool "
              "and decodes every reply there (not in the report): PyMongo's own "
              "AsyncMongoClient instead",
              Expected("less RSS (no figure given)", "qualitative"), STORM,
              ("peak_rss_bytes", "final_rss_bytes", "rss_growth_mib_per_min",
               "server_cpu_percent"),
              note="always db-polling against db-polling@driver=pymongo-async, whatever "
              "the base: the design whose polls go through the driver"),
        Claim("malloc_trim", "missed",
              "Once a task has ended and been cleaned up, glibc's malloc_trim(0) hands the "
              "free heap back to the OS (not in the report)",
              Expected("less RSS after tasks end (no figure given)", "qualitative"), CHURN,
              ("final_rss_bytes", "peak_rss_bytes", "rss_growth_mib_per_min")),
        Claim("orjson_in_memory", "missed",
              "memory-first still encodes the whole in-memory task with json.dumps on every "
              "poll (not in the report): orjson instead",
              Expected("less CPU per poll (no figure given)", "qualitative"), STORM,
              ("server_cpu_percent", "status_p99_ms", "peak_rss_bytes")),
        Claim("summary_in_memory", "missed",
              "memory-first still returns the whole in-memory task, segments and all, on "
              "every poll (not in the report): a summary view instead",
              Expected("less memory and CPU per poll (no figure given)", "qualitative"),
              STORM, ("peak_rss_bytes", "server_cpu_percent", "status_p99_ms")),
        Claim("two_processes", "missed",
              "The report's design assumes one server process (not in the report): run as "
              "two behind one port, each has its own in-memory dict, so a poll reaching "
              "the process that does not run the task reads the DB copy, written only at "
              "the end",
              Expected("no saving: stale replies and more memory", "qualitative", costs=True),
              STORM,
              ("peak_rss_bytes", "stale_replies_per_poll", "server_cpu_percent"),
              note="the row expects a cost: 'confirmed' means the second process measured "
              "more (memory, stale replies, CPU), 'the opposite' that it measured less; "
              "peak RSS is the sum of the server processes' kernel high-water "
              "marks (VmHWM, an upper bound: pages shared since the fork count twice; PSS "
              "is not sampled); stale replies are status replies showing fewer segments "
              "than one before them for the same task, as a share of the steady polls"),
        Claim("release_bodies", "missed",
              "Between two polls, aiohttp keeps each keep-alive connection's last reply "
              "(a local of RequestHandler.start), so every open tab holds one whole status "
              "body (not in the report): the handler writes the body through a "
              "StreamResponse, which keeps none once sent",
              Expected("less RSS per open connection (no figure given)", "qualitative"),
              STORM, ("peak_rss_bytes", "median_rss_bytes", "server_cpu_percent",
                        "status_p99_ms")),
        Claim(ALL, "headline",
              "Polling once a second no longer loads the whole task with its segments: "
              "memory falls by 80-90 %",
              Expected("80-90 %", "relative", 0.80, 0.90), STORM,
              ("peak_rss_bytes", *STORM_METRICS[1:], "db_reply_bytes_per_poll")),
    )
}  # fmt: skip
