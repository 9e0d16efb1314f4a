"""What a frontend may rely on, checked on every response the scenarios read.

Each check returns a list of `Problem`s; the scenarios turn each one into a Locust
failure whose message is the problem's `kind` (a fixed, greppable name such as
"progress decreased") so that failures group by rule, not by value. The details go
to the log.

Concurrent polls of one task may complete out of order, so monotonicity is judged
against a floor *snapshotted when the request is sent*: the highest progress and
status that any response had already shown before that moment. A reply may never be
older than something the client had already seen.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    SCHEMA = "schema"
    TRANSITION = "status transition"
    PROGRESS = "progress decreased"
    SEGMENT_COUNT = "final segment count"
    FOREIGN = "foreign data"
    TASK_FAILED = "task did not complete"
    UPLOAD_STATUS = "upload end status"


@dataclass(frozen=True, slots=True)
class Problem:
    kind: Kind
    detail: str


ACTIVE = ("queued", "converting", "transcribing", "diarizing")
TERMINAL = frozenset({"completed", "failed", "cancelled"})
# Steps may be skipped (a task without diarization never shows "diarizing"), but
# a task never goes back, and a terminal state is final.
RANK = {name: i for i, name in enumerate(ACTIVE)} | {name: len(ACTIVE) for name in TERMINAL}

_TIMESTAMPS = ("created_at", "updated_at", "started_at", "finished_at")
_SEGMENT_KEYS = ("id", "start", "end", "text", "speaker", "words")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_segment(seg: Any) -> list[Problem]:
    if not isinstance(seg, Mapping) or any(k not in seg for k in _SEGMENT_KEYS):
        return [Problem(Kind.SCHEMA, f"segment lacks one of {_SEGMENT_KEYS}: {str(seg)[:120]}")]
    if not (_is_number(seg["start"]) and _is_number(seg["end"]) and isinstance(seg["text"], str)):
        return [Problem(Kind.SCHEMA, f"segment {seg.get('id')} has a bad start/end/text")]
    if not isinstance(seg["words"], list):
        return [Problem(Kind.SCHEMA, f"segment {seg.get('id')} words is not a list")]
    return []


def check_status_view(doc: Any, task_id: str, *, full: bool | None = None) -> list[Problem]:
    """Schema of `GET /api/tasks/{id}` and that it is the task that was asked for.

    `full` True/False demands/forbids `segments`; None accepts either. Only the first and
    last segments are checked deeply: parsing is the load generator's cost, not the
    server's, and a 5,000-segment poll must not saturate it.
    """
    if not isinstance(doc, Mapping):
        return [Problem(Kind.SCHEMA, f"status is not an object: {str(doc)[:80]}")]
    problems: list[Problem] = []
    missing = [k for k in ("task_id", "status", "progress", "segment_count") if k not in doc]
    if missing:
        return [Problem(Kind.SCHEMA, f"status view lacks {missing}")]
    if doc["task_id"] != task_id:
        problems.append(Problem(Kind.FOREIGN, f"asked for task {task_id}, got {doc['task_id']}"))
    if doc["status"] not in RANK:
        problems.append(Problem(Kind.SCHEMA, f"unknown status {doc['status']!r}"))
    progress = doc["progress"]
    if not _is_number(progress) or not 0 <= progress <= 100:
        problems.append(Problem(Kind.SCHEMA, f"progress {progress!r} not a number in 0..100"))
    count = doc["segment_count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        problems.append(Problem(Kind.SCHEMA, f"segment_count {count!r} not an int >= 0"))
    for key in _TIMESTAMPS:
        if key in doc and doc[key] is not None and not isinstance(doc[key], str):
            problems.append(Problem(Kind.SCHEMA, f"{key} is neither an ISO string nor null"))
    if "error" in doc and doc["error"] is not None and not isinstance(doc["error"], str):
        problems.append(Problem(Kind.SCHEMA, "error is neither a string nor null"))
    segments = doc.get("segments")
    if full is True and segments is None:
        problems.append(Problem(Kind.SCHEMA, "full status view lacks segments"))
    if full is False and segments is not None:
        problems.append(Problem(Kind.SCHEMA, "summary status view carries segments"))
    if segments is not None:
        if not isinstance(segments, list):
            problems.append(Problem(Kind.SCHEMA, "segments is not a list"))
        else:
            if isinstance(count, int) and len(segments) != count:
                problems.append(
                    Problem(Kind.SCHEMA, f"{len(segments)} segments but segment_count {count}")
                )
            for seg in (segments[:1] + segments[-1:]) if segments else []:
                problems.extend(check_segment(seg))
    return problems


@dataclass(frozen=True, slots=True)
class Floor:
    """What the client had already seen of a task when it sent a request."""

    progress: float = 0.0
    status: str = "queued"
    segment_count: int = 0


class TaskWatch:
    """Progress and status seen so far for each task, shared by a process's users."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, Floor] = {}

    def floor(self, task_id: str) -> Floor:
        return self._seen.get(task_id, Floor())

    def forget(self, task_id: str) -> None:
        self._seen.pop(task_id, None)

    def observe(self, task_id: str, floor: Floor, doc: Mapping[str, Any]) -> list[Problem]:
        """Compare a status reply with the floor taken at send time; raise the floor."""
        status, raw_progress = doc.get("status"), doc.get("progress")
        count = doc.get("segment_count")
        if status not in RANK or not _is_number(raw_progress) or not isinstance(count, int):
            return []  # check_status_view already reported the schema problem
        progress = float(raw_progress or 0.0)
        problems: list[Problem] = []
        if progress < floor.progress:
            problems.append(
                Problem(Kind.PROGRESS, f"task {task_id}: {floor.progress} then {progress}")
            )
        if RANK[status] < RANK[floor.status] or (
            floor.status in TERMINAL and status != floor.status
        ):
            problems.append(
                Problem(Kind.TRANSITION, f"task {task_id}: {floor.status} then {status}")
            )
        if count < floor.segment_count:
            problems.append(
                Problem(
                    Kind.PROGRESS, f"task {task_id}: {floor.segment_count} then {count} segments"
                )
            )
        seen = self._seen.get(task_id, Floor())
        # Terminal wins the status floor; otherwise the highest rank seen.
        best = status if RANK[status] >= RANK[seen.status] else seen.status
        if seen.status in TERMINAL:
            best = seen.status
        self._seen[task_id] = Floor(
            progress=max(seen.progress, progress),
            status=best,
            segment_count=max(seen.segment_count, count),
        )
        return problems


def check_final(doc: Mapping[str, Any], expected_segments: int | None) -> list[Problem]:
    """A synthetic task must complete, with exactly the segments it was asked for."""
    if expected_segments is None:
        return []
    if doc.get("status") != "completed":
        return [
            Problem(
                Kind.TASK_FAILED,
                f"task {doc.get('task_id')} ended {doc.get('status')}: {doc.get('error')}",
            )
        ]
    count = doc.get("segment_count")
    if count != expected_segments:
        return [
            Problem(
                Kind.SEGMENT_COUNT,
                f"task {doc.get('task_id')}: expected {expected_segments}, got {count}",
            )
        ]
    return []


def check_segments_page(doc: Any, offset: int, limit: int) -> list[Problem]:
    if not isinstance(doc, Mapping) or not {"segments", "offset", "total"} <= doc.keys():
        return [Problem(Kind.SCHEMA, f"segments page lacks segments/offset/total: {str(doc)[:80]}")]
    segments, total = doc["segments"], doc["total"]
    if not isinstance(segments, list) or not isinstance(total, int):
        return [Problem(Kind.SCHEMA, "segments page has a bad segments list or total")]
    problems: list[Problem] = []
    if doc["offset"] != offset:
        problems.append(Problem(Kind.SCHEMA, f"asked offset {offset}, got {doc['offset']}"))
    if len(segments) > limit or len(segments) != max(0, min(limit, total - offset)):
        problems.append(
            Problem(Kind.SCHEMA, f"page at {offset} has {len(segments)} of total {total}")
        )
    for seg in segments[:1] + segments[-1:] if segments else []:
        problems.extend(check_segment(seg))
    return problems


def check_task_list(doc: Any, own_task_ids: Collection[str]) -> list[Problem]:
    """`GET /api/tasks`: shape, counts, and only tasks this user created."""
    keys = ("active_count", "total_count", "active_tasks", "all_tasks")
    if not isinstance(doc, Mapping) or any(k not in doc for k in keys):
        return [Problem(Kind.SCHEMA, f"task list lacks one of {keys}")]
    active, every = doc["active_tasks"], doc["all_tasks"]
    if not isinstance(active, list) or not isinstance(every, list):
        return [Problem(Kind.SCHEMA, "active_tasks/all_tasks are not lists")]
    problems: list[Problem] = []
    if not isinstance(doc["active_count"], int) or not isinstance(doc["total_count"], int):
        problems.append(Problem(Kind.SCHEMA, "active_count/total_count are not ints"))
    elif doc["active_count"] > doc["total_count"]:
        problems.append(Problem(Kind.SCHEMA, "active_count exceeds total_count"))
    for entry in active + every:
        if not isinstance(entry, Mapping) or "task_id" not in entry:
            problems.append(Problem(Kind.SCHEMA, "task list entry without task_id"))
            break
        if entry["task_id"] not in own_task_ids:
            problems.append(Problem(Kind.FOREIGN, f"list shows task {entry['task_id']}"))
            break
        if "segments" in entry:
            problems.append(Problem(Kind.SCHEMA, "task list entry carries segments"))
            break
    return problems
