"""Task states and the views a poll returns.

A task document (segment_storage=embedded) looks like
`{_id, user_id, status, progress, segment_count, segments: [...], error, source: {...},
timestamps: {created_at, updated_at, started_at, finished_at}, stage_memory: {...}}`;
with chunks, `segments` lives in documents `{_id: "<task>:<n>", task_id, segments}`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson


class TaskState(StrEnum):
    QUEUED = "queued"
    CONVERTING = "converting"
    TRANSCRIBING = "transcribing"
    DIARIZING = "diarizing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATES: tuple[str, ...] = (
    TaskState.QUEUED,
    TaskState.CONVERTING,
    TaskState.TRANSCRIBING,
    TaskState.DIARIZING,
)
FINAL_STATES: tuple[str, ...] = (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED)

# Progress (0..100) at which each stage starts; a stage reports inside its band.
STAGE_BANDS: dict[str, tuple[float, float]] = {
    TaskState.CONVERTING: (0.0, 5.0),
    TaskState.TRANSCRIBING: (5.0, 95.0),
    TaskState.DIARIZING: (95.0, 99.0),
}

TASK_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_TIMESTAMPS = ("created_at", "updated_at", "started_at", "finished_at")
# orjson's datetime form equals `iso`'s: `Z` for UTC, naive datetimes taken as UTC.
_ORJSON_ISO = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def utcnow() -> datetime:
    # Millisecond precision: what BSON dates keep, so memory and DB views agree.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(value.isoformat()).replace("+00:00", "Z")
    return str(value)


def summary_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The small status view: never the segments."""
    ts = doc.get("timestamps") or {}
    return {
        "task_id": doc["_id"],
        "status": doc.get("status"),
        "progress": doc.get("progress", 0.0),
        "segment_count": doc.get("segment_count", 0),
        "error": doc.get("error"),
        **{name: iso(ts.get(name)) for name in _TIMESTAMPS},
    }


def summary_json(doc: dict[str, Any]) -> bytes:
    """`summary_view` encoded with orjson, byte for byte, without its per-timestamp `iso`.

    lean's poll (status_view=summary, json_encoder=orjson) answers with this: orjson
    writes datetimes itself in the same form `iso` gives (UTC as `Z`, naive taken as
    UTC), which is most of what a poll of a live task costs in Python. Values that are
    not datetimes go through `iso` as before.
    """
    ts = doc.get("timestamps") or {}
    created, updated = ts.get("created_at"), ts.get("updated_at")
    started, finished = ts.get("started_at"), ts.get("finished_at")
    return orjson.dumps(
        {
            "task_id": doc["_id"],
            "status": doc.get("status"),
            "progress": doc.get("progress", 0.0),
            "segment_count": doc.get("segment_count", 0),
            "error": doc.get("error"),
            "created_at": created if created is None or type(created) is datetime else iso(created),
            "updated_at": updated if updated is None or type(updated) is datetime else iso(updated),
            "started_at": started if started is None or type(started) is datetime else iso(started),
            "finished_at": (
                finished if finished is None or type(finished) is datetime else iso(finished)
            ),
        },
        option=_ORJSON_ISO,
    )


def full_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The whole task, as the original returned it: every field, segments included."""
    view = dict(doc)
    view.pop("_id", None)
    view.pop("timestamps", None)
    view.update(summary_view(doc))
    view.setdefault("segments", [])
    return view


def chunk_id(task_id: str, index: int) -> str:
    return f"{task_id}:{index}"
