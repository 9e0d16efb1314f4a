"""The options of the built-in scenarios, without Locust: the CLI checks `-O` against them
before it starts anything (importing a scenario would gevent-patch the process)."""

from __future__ import annotations

from typing import Any

# name -> (type, default, help). One option, three spellings: --poll-rate,
# options.poll_rate, MEMDIAG_POLL_RATE.
OPTIONS: dict[str, tuple[type, Any, str]] = {
    "result_file": (str, "", "write the memdiag JSON result (HDR latencies) to this file"),
    "warmup_s": (float, 0.0, "seconds after start whose requests are left out of 'steady'"),
    "late_threshold_ms": (float, 10.0, "a paced send later than this counts as a late send"),
    "poll_rate": (float, 10.0, "status polls per second, total over all users and processes"),
    "create_rate": (float, 0.0, "task creations per second in total (0: when a tab is free)"),
    "list_rate": (float, 2.0, "task-list requests per second, total"),
    "upload_rate": (float, 0.2, "audio uploads per second, total"),
    "control_dir": (str, "", "folder shared with the experiment runner (ready/steady files)"),
    "segments": (int, 60, "segments per synthetic task"),
    "initial_segments": (
        int,
        0,
        "segments a synthetic task starts with (pre-grown); the runner's steady phase"
        " waits until every polled task shows this many",
    ),
    "segments_per_second": (float, 20.0, "pace of a synthetic task (task lasts segments/pace)"),
    "words_per_segment": (int, 8, "words per synthetic segment"),
    "seed": (int, 1, "seed of the synthetic engine"),
    "view": (str, "auto", "status view expected: full (with segments), summary, or auto"),
    "page_size": (int, 100, "segments per page when fetching a finished task's segments"),
    "storm_tasks": (int, 4, "large live tasks polled by the storm, total over processes"),
    "tasks_per_user": (int, 2, "tasks each dashboard user keeps running"),
    "audio_dir": (str, "", "folder of audio files to upload (wav, mp3, ...)"),
    "expect_upload_status": (str, "completed", "end state of an upload: completed|failed|any"),
    "upload_engine": (str, "", "engine field sent with each upload (empty: server default)"),
    "poll_interval_s": (
        float,
        1.0,
        "seconds between an uploader's polls of its own task; for the tab scenarios"
        " (polling_storm, frontend_tabs) memdiag's default number of tabs is rate x this,"
        " and each tab polls every users / rate seconds",
    ),
    "watched_tasks": (
        int,
        4,
        "frontend tabs: tasks the tabs watch, total over processes (tabs share them"
        " round-robin; at most the server's workers, or some wait in its queue)",
    ),
    "cancel_share": (float, 0.2, "task churn: share of tasks the tab cancels while they run"),
    "fail_share": (float, 0.2, "task churn: share of tasks that fail in the worker half-way"),
    "request_rate": (float, 10.0, "url poll: requests per second in total over the --poll list"),
    "poll": (str, "GET /", "url poll: 'METHOD /path' items joined by |, polled round-robin"),
}


def check_option(name: str, value: str | int | float) -> str | None:
    """Why `name=value` is not an option of the built-in scenarios, or None if it is."""
    if name not in OPTIONS:
        return f"unknown scenario option {name!r}; known: {', '.join(sorted(OPTIONS))}"
    kind = OPTIONS[name][0]
    if kind is int and type(value) is not int:
        return f"scenario option {name} takes an integer, not {value!r}"
    if kind is float and type(value) not in (int, float):
        return f"scenario option {name} takes a number, not {value!r}"
    return None
