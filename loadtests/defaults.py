"""Each built-in scenario's own option defaults, in one place both sides can read.

The locustfiles pass them to `want(...)`; the experiment runner reads them (without
importing locust) to know the size of the tasks a scenario polls, so that it can
calibrate the database on a document of that size before the run.

The polling scenarios pre-grow their tasks (`initial_segments`) and let them trickle
slowly, so every design polls tasks of the same, nearly constant size: see each
scenario's docstring for why its size and rate.
"""

from __future__ import annotations

from collections.abc import Mapping

Scalar = str | int | float

# Tasks a tab or dashboard watches: 300 segments of 8 words (about 200 KiB of BSON),
# trickling at 0.5/s for 120 s more.
_WATCHED: dict[str, Scalar] = {
    "segments": 360,
    "initial_segments": 300,
    "segments_per_second": 0.5,
    "words_per_segment": 8,
}

SCENARIO_DEFAULTS: dict[str, dict[str, Scalar]] = {
    "polling_storm": {
        "segments": 1300,
        "initial_segments": 1000,
        "segments_per_second": 0.5,
        "words_per_segment": 12,
        "poll_rate": 10.0,
    },
    "frontend_tabs": dict(_WATCHED),
    "dashboard": dict(_WATCHED),
    # Short tasks (40 segments at 8/s: 5 s each), not pre-grown: they come and go.
    "task_churn": {
        "segments": 40,
        "initial_segments": 0,
        "segments_per_second": 8.0,
        "words_per_segment": 8,
        "cancel_share": 0.2,
        "fail_share": 0.2,
    },
    "soak": {},
    "uploads": {},
}


def polled_task_size(scenario: str | None, options: Mapping[str, Scalar]) -> tuple[int, int] | None:
    """(segments, words per segment) of the tasks `scenario` polls once they are ready,
    with `options` (-O NAME=VALUE) over its defaults; None for scenarios without them."""
    base = SCENARIO_DEFAULTS.get("frontend_tabs" if scenario == "soak" else scenario or "")
    if not base:
        return None
    merged = {**base, **options}
    segments = int(merged["segments"])
    initial = int(merged.get("initial_segments", 0))
    return (min(initial, segments) if initial > 0 else segments), int(merged["words_per_segment"])
