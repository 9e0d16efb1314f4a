"""Memory probes: what every memdiag report and gate stands on. Linux only (/proc).

They observe a server from outside (/proc, HTTP, files, subprocesses) and import nothing
from `reference_server` or `loadtests`. Entry points, by module:

procmem        read_mem(pid, children=False, detail=False) -> MemReading
               (RSS, VmHWM, RssAnon/File/Shmem, CPU s; USS/PSS with detail=True)
               reset_peak(pid, children=False)   write 5 to clear_refs: VmHWM := RSS
               peak_rss_bytes(pid), descendant_pids(pid), ProbeError
sampler        Sampler([Target(label, pid, children)], csv_path, interval_s=0.5)
               .start()/.stop() or `with`, .set_phase(name, reset_peak=True),
               .samples(label), .self_cpu_s, .gone;  load_timeline(csv) -> list[Sample]
summary        summarize(samples, label, phase=..., start_s=..., end_s=...,
               warmup_fraction=...) -> MemorySummary (kernel vs sampled peak, median,
               final, growth_mib_per_min, cpu_percent); summarize_all; slope_per_s
heapdiff       diff_files(old, new, include_patterns(["reference_server"]), top=10,
               group="traceback"|"site") -> HeapDiff (.to_json(), render_text(diff));
               CLI: python -m profiling.probes.heapdiff OLD NEW --include PKG
memray_capture memray_command(target_argv, out_bin, MemrayOptions(...)) -> argv,
               memray_env(options), render_artifacts(bin, out_dir) -> MemrayArtifacts
               (stats JSON, peak/leaks/temporal flamegraph HTML),
               summarize_capture(bin) -> MemraySummary, capture_files(out_bin),
               heap_window(bin, start_epoch_s, end_epoch_s) -> HeapWindow (a phase's
               exact heap peak, comparable with tracemalloc's reset-peak figure)
dbevidence     scrape(base_url) -> MetricsScrape; parse_metrics(text);
               db_evidence(before, after) -> DbEvidence (totals, per command, per poll)
allocator      parse_choice("glibc"|"jemalloc"|"arenas=N") -> AllocatorChoice,
               allocator_env(choice) -> env dict (LD_PRELOAD / MALLOC_ARENA_MAX),
               find_jemalloc(), active_allocator(pid)
debugclient    admin client for the server's /debug routes: DebugClient(base_url, token)
               .tracemalloc_start(frames), .snapshot(path), .reset_peak(), .memory(),
               .malloc_trim()
pollbench      prepare_task(url) -> (token, task_id); poll(url, token, task_id,
               count=|duration_s=, concurrency=) -> PollResult (closed-loop polls/s)
dbcalibrate    calibrate(uri, segments=...) -> Calibration (find_one of a task-sized
               document against the client's decode), time_one_field_set(uri, ...)
taskdoc        task_document(task_id, segments=, words_per_segment=) -> a task-shaped document
agent/         the one probe that runs inside the server: memdiag puts this folder first
               on the server's PYTHONPATH; its sitecustomize.py starts memagent.py
               (stdlib only) when MEMDIAG_AGENT_DIR is set, which writes
               agent-<pid>.jsonl (RSS kinds, mallinfo2, pymalloc arenas, threads, GC)
agentlog       agent_env(env, dir, interval_s) -> env with the agent injected,
               opted_out(env) (MEMDIAG_NO_AGENT), read_agent_dir(dir) -> lines by pid

Benchmarks (run by hand):
  python -m profiling.probes.overhead --hz 2,10        sampler CPU % of a core
  python -m profiling.probes.profiler_overhead --mongo-uri URI
                                                       poll throughput vs profilers

Every JSON these write carries `schema_version` and is dumped sorted and indented.
"""
