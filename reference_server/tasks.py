"""What each route does with tasks, per the switches: the designs under test live here.

The status path is the incident: db-polling reads the whole document from the DB on
every poll; memory-first answers live tasks from `live.transcription_tasks` (ownership
checked against the copy's `user_id`) and falls back to the DB for the rest; lean
answers a small summary and pages segments from chunk documents by exact `_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import orjson

from reference_server.errors import BadRequest, Conflict, NotFound, Unprocessable
from reference_server.live import LiveRegistry
from reference_server.metrics import Metrics
from reference_server.models import (
    ACTIVE_STATES,
    FINAL_STATES,
    TASK_ID_RE,
    TaskState,
    full_view,
    summary_json,
    summary_view,
    utcnow,
)
from reference_server.pipeline.engines.synthetic import MAX_SEGMENTS, MAX_WORDS
from reference_server.pipeline.worker import Worker
from reference_server.recovery import temp_dir_prefix
from reference_server.settings import Settings
from reference_server.store import Store
from reference_server.store.tasks import NO_SEGMENTS

NOT_FOUND = "task does not exist or no permission"
# FerretDB does not enforce the 16 MiB limit on updates, so the app does (with room to spare).
MAX_TASK_DOC_BYTES = 15 * 1024 * 1024
CANCEL_WAIT_S = 15.0


def _json_default(value: Any) -> Any:
    iso = getattr(value, "isoformat", None)
    if iso is not None:
        return iso()
    raise TypeError(f"cannot encode {type(value).__name__}")


class TaskService:
    def __init__(
        self, settings: Settings, store: Store, live: LiveRegistry, metrics: Metrics, worker: Worker
    ) -> None:
        self.settings = settings
        self.sw = settings.switches
        self.store = store
        self.repo = store.tasks
        self.live = live
        self.metrics = metrics
        self.worker = worker
        # lean's switches own this fast path; every other configuration keeps its view.
        self.summary_orjson = self.sw.status_view == "summary" and self.sw.json_encoder == "orjson"

    def encode(self, view: dict[str, Any]) -> bytes:
        if self.sw.json_encoder == "orjson":
            return orjson.dumps(view, default=_json_default)
        return json.dumps(view, default=_json_default).encode()

    def _live_for(self, task_id: str, user_id: str) -> dict[str, Any] | None:
        """The live copy when polls read memory; 404 when it belongs to someone else."""
        if self.sw.poll_source != "memory":
            return None
        state = self.live.get_live(task_id)
        if state is not None and state.get("user_id") != user_id:
            raise NotFound(NOT_FOUND)
        return state

    async def _db_task(self, task_id: str, user_id: str, *, op: str, full: bool) -> dict[str, Any]:
        projection = None if full or not self.sw.projections else NO_SEGMENTS
        doc = await self.repo.get_by_id_and_user(task_id, user_id, op=op, projection=projection)
        if doc is None:
            raise NotFound(NOT_FOUND)
        return doc

    # -- status ----------------------------------------------------------------------
    async def status(self, task_id: str, user_id: str) -> bytes:
        check_id(task_id)
        full = self.sw.status_view == "full"
        state = self._live_for(task_id, user_id)
        if self.summary_orjson:
            if state is None:
                state = await self._db_task(task_id, user_id, op="status", full=False)
            body = summary_json(state)
        elif state is not None:
            body = self.encode(full_view(state) if full else summary_view(state))
        else:
            doc = await self._db_task(task_id, user_id, op="status", full=full)
            if full and self.sw.segment_storage == "chunks":
                doc = dict(doc, segments=await self._chunk_range(task_id, 0, doc))
            body = self.encode(full_view(doc) if full else summary_view(doc))
        self.metrics.status.served(len(body))
        return body

    # -- segments --------------------------------------------------------------------
    async def segments(self, task_id: str, user_id: str, offset: int, limit: int) -> bytes:
        check_id(task_id)
        state = self._live_for(task_id, user_id)
        if state is not None:
            all_segments = state.get("segments") or []
            page, total = all_segments[offset : offset + limit], len(all_segments)
        elif self.sw.segment_storage == "chunks":
            doc = await self._db_task(task_id, user_id, op="segments", full=False)
            total = int(doc.get("segment_count", 0))
            page = await self._chunk_range(task_id, offset, doc, limit)
        else:
            doc = await self._db_task(task_id, user_id, op="segments", full=True)
            all_segments = doc.get("segments") or []
            page, total = all_segments[offset : offset + limit], len(all_segments)
        return self.encode({"segments": page, "offset": offset, "total": total})

    async def _chunk_range(
        self, task_id: str, offset: int, doc: dict[str, Any], limit: int | None = None
    ) -> list[dict[str, Any]]:
        total = int(doc.get("segment_count", 0))
        end = total if limit is None else min(total, offset + limit)
        size = int(doc.get("chunk_size") or self.settings.chunk_size)
        out: list[dict[str, Any]] = []
        for index in range(offset // size, (end - 1) // size + 1 if end > offset else 0):
            chunk = await self.repo.get_chunk(task_id, index, op="segments")
            base = index * size
            out.extend(chunk[max(0, offset - base) : max(0, end - base)])
        return out

    # -- list ------------------------------------------------------------------------
    async def list_tasks(self, user_id: str) -> bytes:
        projection = NO_SEGMENTS if self.sw.projections else None
        active = await self.repo.list_active(
            user_id, self.sw.active_list_limit, projection=projection
        )
        if self.sw.list_cleanup or self.sw.projections:
            total = await self.repo.count_by_user(user_id)
            all_tasks_raw = await self.repo.list_all(
                user_id, projection=projection, limit=50 if self.sw.projections else 0
            )
        else:
            all_tasks_raw = await self.repo.list_all(user_id, projection=projection)
            total = len(all_tasks_raw)
        active_tasks = [self._list_entry(doc) for doc in active]
        all_tasks = [self._list_entry(doc) for doc in all_tasks_raw]
        result = {
            "active_count": len(active_tasks),
            "total_count": total,
            "active_tasks": active_tasks,
            "all_tasks": all_tasks,
        }
        if self.sw.list_cleanup:  # incident change 7
            del active, all_tasks_raw
            gc.collect()
            self.metrics.gc_runs.labels("list").inc()
        return self.encode(result)

    def _list_entry(self, doc: dict[str, Any]) -> dict[str, Any]:
        live = self.live.get_live(doc["_id"]) if self.sw.poll_source == "memory" else None
        return summary_view(live if live is not None else doc)

    # -- create ----------------------------------------------------------------------
    def new_doc(self, user_id: str, source: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        doc: dict[str, Any] = {
            "_id": uuid.uuid4().hex,
            "user_id": user_id,
            "status": TaskState.QUEUED.value,
            "progress": 0.0,
            "segment_count": 0,
            "error": None,
            "source": source,
            "timestamps": {
                "created_at": now,
                "updated_at": now,
                "started_at": None,
                "finished_at": None,
            },
            "stage_memory": {},
        }
        if self.sw.segment_storage == "chunks":
            doc["chunk_size"] = self.settings.chunk_size
        else:
            doc["segments"] = []
        return doc

    def new_temp_dir(self, task_id: str) -> Path:
        base = self.settings.upload_dir
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=temp_dir_prefix(task_id), dir=base))
        with self.live.lock:
            self.live.task_temp_dirs[task_id] = path
        return path

    async def create_synthetic(self, user_id: str, spec: Any) -> str:
        params, diarize = parse_synthetic(spec)
        if self.sw.segment_storage == "embedded":
            estimate = params["segments"] * (120 + 80 * params["words_per_segment"])
            if estimate > MAX_TASK_DOC_BYTES:
                # 422, not 400: every field is valid alone; together they are too much.
                raise Unprocessable(
                    f"about {estimate / 2**20:.0f} MiB of segments would exceed the 16 MiB "
                    "document limit with embedded segments; ask for fewer segments or "
                    "use segment_storage=chunks"
                )
        doc = self.new_doc(user_id, {"kind": "synthetic", "params": params, "diarize": diarize})
        tmp = self.new_temp_dir(doc["_id"])
        try:
            (tmp / "task.json").write_bytes(orjson.dumps(params))
        except BaseException:  # a full disk (507): leave nothing behind
            self._drop_temp(doc["_id"])
            raise
        return await self._start(doc)

    async def create_upload(self, doc: dict[str, Any]) -> str:
        return await self._start(doc)

    async def _start(self, doc: dict[str, Any]) -> str:
        try:
            await self.repo.insert(doc)
        except BaseException:
            self._drop_temp(doc["_id"])
            raise
        self.worker.submit(doc["_id"])
        return str(doc["_id"])

    def _drop_temp(self, task_id: str) -> None:
        with self.live.lock:
            tmp = self.live.task_temp_dirs.pop(task_id, None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- cancel / delete -------------------------------------------------------------
    async def cancel(self, task_id: str, user_id: str) -> dict[str, Any]:
        check_id(task_id)
        state = self._live_for(task_id, user_id)
        doc = (
            state
            if state is not None
            else await self._db_task(task_id, user_id, op="cancel", full=False)
        )
        future = self.worker.future(task_id)
        if doc.get("status") in FINAL_STATES or future is None:
            raise Conflict(f"task is already {doc.get('status')}")
        self.live.cancel_flag(task_id).set()
        if future.cancel():  # still queued: it will never run, so end it here and now
            await self._end_queued(task_id)
            return {"task_id": task_id, "status": TaskState.CANCELLED.value}
        for proc in self.live.processes(task_id):
            if proc.poll() is None:
                proc.kill()
        # A task still queued behind others ends cancelled as soon as it starts.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), CANCEL_WAIT_S)
        final = await self.repo.get(task_id, op="cancel", projection={"status": 1})
        status = (final or {}).get("status", TaskState.CANCELLED.value)
        if status == TaskState.COMPLETED.value:
            raise Conflict("task completed before it could be cancelled")
        return {"task_id": task_id, "status": status if status in FINAL_STATES else "cancelled"}

    async def _end_queued(self, task_id: str) -> None:
        """What the worker's end of a task does, for one it never started."""
        now = utcnow()
        fields = {
            "status": TaskState.CANCELLED.value,
            "error": "cancelled by user",
            "timestamps.updated_at": now,
            "timestamps.finished_at": now,
        }
        await self.repo.set_fields(task_id, fields, op="cancel")
        self._drop_temp(task_id)
        self.metrics.tasks_finished.labels(TaskState.CANCELLED.value).inc()
        if self.sw.cleanup_at_task_end:
            self.live.pop_all(task_id)

    async def delete(self, task_id: str, user_id: str) -> None:
        check_id(task_id)
        doc = await self._db_task(task_id, user_id, op="delete", full=False)
        if doc.get("status") in ACTIVE_STATES or self.worker.future(task_id) is not None:
            raise Conflict("task is still running; cancel it first")
        size = int(doc.get("chunk_size") or self.settings.chunk_size)
        chunks = -(-int(doc.get("segment_count", 0)) // size) if "chunk_size" in doc else 0
        await self.repo.delete(task_id, chunks)


def check_id(task_id: str) -> None:
    if not TASK_ID_RE.match(task_id):
        raise NotFound(NOT_FOUND)


MIN_RATE, MAX_RATE = 0.02, 10_000
SYNTHETIC_INTS = {
    "segments": (1, MAX_SEGMENTS),
    "initial_segments": (0, MAX_SEGMENTS),
    "words_per_segment": (1, MAX_WORDS),
    "seed": (-(2**62), 2**62),
    # The worker fails the task after this many segments (task churn: a failure inside
    # the worker, which must leave nothing behind like any other end).
    "fail_after": (0, MAX_SEGMENTS),
}


def parse_synthetic(spec: Any) -> tuple[dict[str, Any], bool]:
    """Validate `{"segments", "initial_segments", "segments_per_second", "words_per_segment",
    "seed", "diarize", "fail_after"}`; `initial_segments` (default 0) are transcribed at
    once; with `fail_after` the engine fails the task after that many segments."""
    if not isinstance(spec, dict):
        raise BadRequest("synthetic must be an object")
    unknown = set(spec) - {*SYNTHETIC_INTS, "segments_per_second", "diarize", "diarize_seconds"}
    if unknown:
        raise BadRequest(f"unknown synthetic field(s): {', '.join(sorted(map(str, unknown)))}")
    params: dict[str, Any] = {
        "segments": 100,
        "segments_per_second": 10.0,
        "words_per_segment": 12,
        "seed": 0,
        "initial_segments": 0,
    }
    for name, (lo, hi) in SYNTHETIC_INTS.items():
        if name in spec:
            value = spec[name]
            if type(value) is float and value.is_integer():
                value = int(value)  # JSON has one number type: 38.0 is the integer 38
            if type(value) is not int or not lo <= value <= hi:
                raise BadRequest(f"synthetic.{name} must be an integer from {lo} to {hi}")
            params[name] = value
    if params["initial_segments"] > params["segments"]:
        # 422: each is valid alone (the schema says so); together they contradict.
        raise Unprocessable(
            f"synthetic.initial_segments ({params['initial_segments']}) exceeds"
            f" synthetic.segments ({params['segments']})"
        )
    if "segments_per_second" in spec:
        rate = spec["segments_per_second"]
        # At least one segment in 50 s: a rate near 0 made a wait too long for a timer.
        if type(rate) not in (int, float) or not MIN_RATE <= rate <= MAX_RATE:
            raise BadRequest(
                f"synthetic.segments_per_second must be a number from {MIN_RATE} to {MAX_RATE}"
            )
        params["segments_per_second"] = float(rate)
    diarize = spec.get("diarize", False)
    if type(diarize) is not bool:
        raise BadRequest("synthetic.diarize must be true or false")
    if "diarize_seconds" in spec:
        # How long the stand-in diarization child works (tests cancel it mid-way).
        seconds = spec["diarize_seconds"]
        if type(seconds) not in (int, float) or not 0 < seconds <= 600:
            raise BadRequest("synthetic.diarize_seconds must be a number in (0, 600]")
        params["diarize_seconds"] = float(seconds)
    return params, diarize
