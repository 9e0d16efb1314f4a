"""Parse one run record (run.json, or a summary's `runs[i]`) into a `RunResult`.

Every getter of `profiling.results.validate.Fields` checks one key's type, so a hand-edited or
truncated record fails naming the file and the field. Fields added after the first
schema (work, calibration, in-flight, reply bytes per second) are optional: older run
folders load, with those figures absent.
"""

from __future__ import annotations

from profiling.results.decompose import RssBreakdown, RssParts
from profiling.results.model import (
    AllocationSite,
    CommandCount,
    DbCalibration,
    DbFigures,
    EndpointLatency,
    Environment,
    HeapFigures,
    HolderGroup,
    Holders,
    InFlight,
    LoadFigures,
    Phases,
    PreflightFigures,
    ProcessMemory,
    RequestPeaks,
    RunResult,
    Scenario,
    TreeProcess,
    WorkFigures,
)
from profiling.results.validate import Fields


def _memory(f: Fields) -> ProcessMemory:
    return ProcessMemory(
        kernel_peak_bytes=f.opt_int("kernel_peak_bytes"),
        sampled_peak_bytes=f.int_("sampled_peak_bytes"),
        final_bytes=f.int_("final_bytes"),
        median_bytes=f.int_("median_bytes"),
        growth_mib_per_min=f.opt_float("growth_mib_per_min"),
        samples=f.int_("samples"),
        cpu_percent=f.opt_float("cpu_percent"),
        pss_peak_bytes=f.opt_int("pss_peak_bytes"),
    )


def _latency(f: Fields) -> EndpointLatency:
    return EndpointLatency(
        requests=f.int_("requests"),
        failures=f.int_("failures"),
        rps=f.float_("rps"),
        p50_ms=f.float_("p50_ms"),
        p90_ms=f.float_("p90_ms"),
        p95_ms=f.float_("p95_ms"),
        p99_ms=f.float_("p99_ms"),
        p999_ms=f.float_("p999_ms"),
        max_ms=f.float_("max_ms"),
    )


def _db(f: Fields) -> DbFigures:
    return DbFigures(
        commands_total=f.int_("commands_total"),
        reply_bytes_total=f.int_("reply_bytes_total"),
        status_polls=f.int_("status_polls"),
        reads_per_poll=f.opt_float("reads_per_poll"),
        commands_per_poll=f.opt_float("commands_per_poll"),
        reply_bytes_per_poll=f.opt_float("reply_bytes_per_poll"),
        by_command={
            k: CommandCount(v.int_("commands"), v.int_("reply_bytes"))
            for k, v in f.mapping("by_command").items()
        },
        reply_bytes_per_s=f.opt_amount("reply_bytes_per_s"),
    )


def _work(f: Fields) -> WorkFigures:
    return WorkFigures(
        tasks=f.count("tasks"),
        target_segments=f.count("target_segments"),
        segments_start=f.amount("segments_start"),
        segments_end=f.amount("segments_end"),
        status_bytes_start=f.amount("status_bytes_start"),
        status_bytes_end=f.amount("status_bytes_end"),
        polls=f.count("polls"),
        polls_per_s=f.amount("polls_per_s"),
        ready_after_s=f.opt_amount("ready_after_s"),
        stale_polls=f.opt_int("stale_polls"),
        tasks_end_in_run=f.bool_("tasks_end_in_run") if f.has("tasks_end_in_run") else False,
        connections_max=f.opt_int("connections_max"),
        connections_mean=f.opt_amount("connections_mean"),
        tabs=f.opt_int("tabs"),
    )


def _calibration(f: Fields) -> DbCalibration:
    return DbCalibration(
        engine=f.str_("engine"),
        segments=f.count("segments"),
        words_per_segment=f.count("words_per_segment"),
        doc_bytes=f.count("doc_bytes"),
        find_one_ms=f.amount("find_one_ms"),
        decode_ms=f.amount("decode_ms"),
        reads=f.count("reads"),
    )


def _preflight(f: Fields) -> PreflightFigures:
    return PreflightFigures(
        segments=f.count("segments"),
        words_per_segment=f.count("words_per_segment"),
        doc_bytes=f.count("doc_bytes"),
        decode_ms=f.amount("decode_ms"),
        dumps_ms=f.amount("dumps_ms"),
        encode_ms=f.amount("encode_ms"),
        rate_per_s=f.amount("rate_per_s"),
        cpu_share=f.amount("cpu_share"),
        budget_share=f.amount("budget_share"),
        fitted=f.bool_("fitted"),
        text=f.str_("text"),
    )


def _live_entries(f: Fields) -> dict[str, int]:
    entries = f.obj("live_entries")
    return {k: entries.count(k) for k in sorted(f.scalars("live_entries"))}


def _request_peaks(f: Fields) -> RequestPeaks:
    raw = f.data.get("peaks_bytes")
    if not isinstance(raw, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in raw
    ):
        raise f.fail("peaks_bytes", "a list of byte counts", raw)
    return RequestPeaks(f.str_("kind"), tuple(raw), f.opt_int("overlapped") or 0)


def _holders(f: Fields) -> Holders:
    raw = f.data.get("missing_pids", [])
    if not isinstance(raw, list) or not all(type(v) is int for v in raw):
        raise f.fail("missing_pids", "a list of process ids", raw)
    return Holders(
        groups=tuple(
            HolderGroup(
                type_name=g.str_("type_name"),
                count=g.count("count"),
                total_bytes=g.count("total_bytes"),
                each_bytes_median=g.count("each_bytes_median"),
                chain=tuple(g.strings("chain", optional=False)),
                key=tuple(g.strings("key", optional=False)),
                root=g.str_("root"),
                allocated_at=tuple(g.strings("allocated_at")),
            )
            for g in f.objects("groups")
        ),
        top_sites=tuple(
            AllocationSite(
                t.str_("location"), t.int_("size_bytes"), t.int_("count"), t.str_("source")
            )
            for t in f.objects("top_sites", optional=True)
        ),
        processes=f.count("processes"),
        missing_pids=tuple(raw),
        objects_scanned=f.count("objects_scanned"),
        elapsed_s=f.amount("elapsed_s"),
        truncated=f.bool_("truncated"),
    )


def _in_flight(f: Fields) -> InFlight:
    return InFlight(
        max_in_flight=f.count("max_in_flight"),
        mean_in_flight=f.amount("mean_in_flight"),
        polls=f.count("polls"),
        above_buckets=f.bool_("above_buckets") if f.has("above_buckets") else False,
    )


def _parts(f: Fields) -> RssParts:
    return RssParts(
        rss_bytes=f.count("rss_bytes"),
        pymalloc_used_bytes=f.count("pymalloc_used_bytes"),
        pymalloc_free_bytes=f.int_("pymalloc_free_bytes"),
        malloc_used_bytes=f.count("malloc_used_bytes"),
        malloc_free_bytes=f.count("malloc_free_bytes"),
        malloc_mmapped_bytes=f.count("malloc_mmapped_bytes"),
        file_bytes=f.count("file_bytes"),
    )


def _rss_parts(f: Fields) -> RssBreakdown:
    return RssBreakdown(
        at_peak=_parts(f.obj("at_peak")),
        peak_t_s=f.float_("peak_t_s"),
        median=_parts(f.obj("median")),
        samples=f.count("samples"),
        processes=f.count("processes"),
        allocator=f.str_("allocator"),
        worst_unaccounted_pct=f.amount("worst_unaccounted_pct"),
        threads_max=f.count("threads_max"),
        gc_collections=f.count("gc_collections"),
        gc_seconds=f.amount("gc_seconds"),
        agent_cpu_percent=f.opt_amount("agent_cpu_percent"),
    )


def run_from_record(f: Fields) -> RunResult:
    """Build a RunResult from a validated run record (run.json or a summary's runs[i])."""
    s = f.obj("scenario")
    env = f.opt_obj("environment")
    heap = f.opt_obj("heap")
    phases = f.opt_obj("phases")
    load = f.obj("load")
    run = RunResult(
        configuration=f.str_("configuration"),
        spec=f.str_("spec"),
        repeat=f.int_("repeat"),
        order=f.int_("order"),
        profile=f.str_("profile"),
        started_at=f.str_("started_at"),
        scenario=Scenario(
            name=s.str_("name"),
            target_rate_per_s=s.float_("target_rate_per_s"),
            duration_s=s.float_("duration_s"),
            warmup_s=s.float_("warmup_s"),
            cooldown_s=s.opt_float("cooldown_s") or 0.0,
            users=s.opt_int("users"),
            params=s.scalars("params"),
        ),
        memory={k: _memory(v) for k, v in f.mapping("memory", optional=False).items()},
        latency={k: _latency(v) for k, v in f.mapping("latency", optional=False).items()},
        status_endpoint=f.opt_str("status_endpoint"),
        load=LoadFigures(
            target_rate_per_s=load.float_("target_rate_per_s"),
            achieved_rate_per_s=load.float_("achieved_rate_per_s"),
            late_sends=load.opt_int("late_sends") or 0,
            saturated=load.bool_("saturated") if load.has("saturated") else False,
        ),
        valid=f.bool_("valid"),
        invalid_reasons=tuple(f.strings("invalid_reasons")),
        db=_db(db) if (db := f.opt_obj("db")) else None,
        loop_lag_p99_ms=f.opt_float("loop_lag_p99_ms"),
        heap=HeapFigures(
            heap.opt_int("heap_peak_bytes"),
            heap.str_("source"),
            heap.opt_int("rss_at_heap_peak_bytes"),
            heap.opt_int("malloc_arenas"),
            heap.opt_int("malloc_trim_returned_bytes"),
        )
        if heap
        else None,
        top_sites=tuple(
            AllocationSite(
                t.str_("location"), t.int_("size_bytes"), t.int_("count"), t.str_("source")
            )
            for t in f.objects("top_sites", optional=True)
        ),
        artifacts=f.string_map("artifacts"),
        environment=Environment(
            host=env.opt_str("host") or "",
            cpu_count=env.opt_int("cpu_count"),
            platform=env.opt_str("platform") or "",
            python=env.opt_str("python") or "",
            git_commit=env.opt_str("git_commit") or "",
            db_server=env.opt_str("db_server") or "",
            db_version=env.opt_str("db_version") or "",
            versions=env.string_map("versions"),
        )
        if env
        else Environment(),
        phases=Phases(
            phases.float_("steady_start_s"), phases.float_("steady_end_s"), phases.float_("end_s")
        )
        if phases
        else None,
        sweep_param=f.opt_str("sweep_param"),
        host_load_1m=f.opt_float("host_load_1m"),
        work=_work(w) if (w := f.opt_obj("work")) else None,
        calibration=_calibration(cal) if (cal := f.opt_obj("calibration")) else None,
        status_in_flight=_in_flight(i) if (i := f.opt_obj("status_in_flight")) else None,
        live_entries=_live_entries(f) if f.has("live_entries") else None,
        request_peaks=_request_peaks(r) if (r := f.opt_obj("request_peaks")) else None,
        preflight=_preflight(p) if (p := f.opt_obj("preflight")) else None,
        settled_after_s=f.opt_amount("settled_after_s"),
        rss_settled=f.bool_("rss_settled") if f.has("rss_settled") else None,
        holders=_holders(h) if (h := f.opt_obj("holders")) else None,
        server_tree=tuple(
            TreeProcess(
                t.int_("pid"),
                t.str_("role"),
                t.str_("command"),
                t.count("peak_rss_bytes"),
                t.count("rss_bytes"),
            )
            for t in f.objects("server_tree", optional=True)
        ),
        dir=f.opt_str("dir"),
        rss_parts=_rss_parts(q) if (q := f.opt_obj("rss_parts")) else None,
    )
    if run.status_endpoint is not None and run.status_endpoint not in run.latency:
        raise f.fail(
            "status_endpoint", f"one of the latency keys {sorted(run.latency)}", run.status_endpoint
        )
    if run.profile not in ("none", "tracemalloc", "memray", "holders"):
        raise f.fail("profile", "'none', 'tracemalloc', 'memray' or 'holders'", run.profile)
    return run
