"""The task worker: a thread pool, and one `TaskRun` per task, as the original ran them.

Worker threads reach the DB through `self.w.db` (pipeline/dbcalls.py: a coroutine run
on the server's loop, retried while the DB is away). What a run writes where depends
on the switches:

- poll_source=memory: the task document is loaded once and a shallow copy put in
  `live.transcription_tasks`; every update lands in that dict (incident change 1).
- checkpoint_interval_s > 0: progress reaches the DB every N s. With embedded segments
  that is the original merge (read the task, copy it if copy_on_merge, update, write it
  all back); with chunks, only new chunk documents and a few small fields.
- checkpoint_interval_s <= 0: the DB sees the task again only when it ends.
- a synthetic task with `initial_segments` gets them at once and checkpoints them in
  one write (as the design writes: the merge, or chunks), never one write per segment.
- cleanup_at_task_end: `finally:` pops every per-task entry and runs gc.collect().
- malloc_trim: then glibc's malloc_trim(0) (pipeline/trim.py), a cause the report missed.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import shutil
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from reference_server.errors import short_error
from reference_server.live import LiveRegistry
from reference_server.metrics import Metrics, read_status_kib
from reference_server.models import STAGE_BANDS, TaskState, utcnow
from reference_server.pipeline.audio import convert_to_wav
from reference_server.pipeline.children import run_child
from reference_server.pipeline.dbcalls import DatabaseGone, DbCaller
from reference_server.pipeline.engines import create_engine
from reference_server.pipeline.engines.base import EngineError, EngineInput, TaskCancelled
from reference_server.pipeline.engines.synthetic import SyntheticParams
from reference_server.pipeline.trim import trim
from reference_server.settings import Settings
from reference_server.store import Store

log = logging.getLogger(__name__)
CONVERSION_TIMEOUT_S = 3600.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        live: LiveRegistry,
        metrics: Metrics,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.settings = settings
        self.store = store
        self.live = live
        self.metrics = metrics
        self.loop = loop
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="task-worker")
        self.futures: dict[str, Future[None]] = {}
        self.db = DbCaller(loop, settings.db_retry_s, metrics)
        self._lock = threading.Lock()
        self.closing = False

    def submit(self, task_id: str) -> Future[None]:
        future = self.pool.submit(TaskRun(self, task_id).run)
        with self._lock:
            self.futures[task_id] = future
        future.add_done_callback(lambda _f: self._forget(task_id))
        return future

    def _forget(self, task_id: str) -> None:
        with self._lock:
            self.futures.pop(task_id, None)

    def future(self, task_id: str) -> Future[None] | None:
        with self._lock:
            return self.futures.get(task_id)

    def shutdown(self) -> None:
        """Stop quickly: flag every task cancelled; restart safety handles the DB state."""
        self.closing = True
        self.db.stopping.set()
        with self.live.lock:
            for flag in self.live.task_cancelled.values():
                flag.set()
            procs = [p for ps in self.live.task_diarization_processes.values() for p in ps]
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _memory() -> tuple[int, int]:
    return read_status_kib("VmRSS"), read_status_kib("VmHWM")


class TaskRun:
    def __init__(self, worker: Worker, task_id: str) -> None:
        self.w = worker
        self.sw = worker.settings.switches
        self.task_id = task_id
        self.state: dict[str, Any] = {}
        self.cancelled = worker.live.cancel_flag(task_id)
        self.last_checkpoint = 0.0
        self.flushed_chunks = 0  # chunks fully written (segment_storage=chunks)
        self.initial_segments = 0  # emitted at once; checkpointed together when all are in
        self.held: list[Any] = []  # decoded audio kept alive when gc_after_conversion is off
        self.db_gone = False  # the retry budget ran out: the final write gets one try

    # -- the run -------------------------------------------------------------------
    def run(self) -> None:
        final, error = TaskState.FAILED, None
        try:
            if self.cancelled.is_set():
                raise TaskCancelled()
            doc = self.w.db(lambda: self.w.store.tasks.get(self.task_id, op="worker-load"))
            if doc is None:
                return  # deleted before it started
            state = dict(doc)  # the fix's shallow copy: it carries user_id for polls
            state.setdefault("segments", [])
            self.state = state
            if self.sw.poll_source == "memory":
                with self.w.live.lock:
                    self.w.live.transcription_tasks[self.task_id] = state
            self._process()
            final = TaskState.COMPLETED
        except TaskCancelled:
            final, error = TaskState.CANCELLED, "cancelled by user"
        except EngineError as exc:
            error = str(exc)
        except DatabaseGone as exc:
            self.db_gone = True
            error = "server shutting down" if self.w.closing else str(exc)
        except Exception as exc:
            if self.w.closing:
                error = "server shutting down"
            else:
                log.exception("task %s failed", self.task_id)
                error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            self._finish(final, error)

    def _process(self) -> None:
        source = self.state.get("source") or {}
        workdir = self._workdir()
        duration_s: float | None = None
        audio: Path | None = None
        if source.get("kind") == "upload":
            self._stage(TaskState.CONVERTING)
            audio = workdir / "audio.wav"
            duration_s = self._measured("conversion", lambda: self._convert(source, audio))
            self._progress(TaskState.CONVERTING, 1.0)
            params = None
        else:
            params = SyntheticParams(
                **{k: v for k, v in source["params"].items() if k != "diarize_seconds"}
            )
            self.initial_segments = params.initial_segments
            duration_s = None

        self._stage(TaskState.TRANSCRIBING)
        engine_name = source.get("engine") or ("synthetic" if params else self.w.settings.engine)
        engine = create_engine(engine_name, self.w.settings.engine_settings)
        inp = EngineInput(audio_path=audio, duration_s=duration_s, options={"params": params})
        self._measured(
            "transcription", lambda: engine.transcribe(inp, self._on_segment, self.cancelled)
        )
        self._progress(TaskState.TRANSCRIBING, 1.0)

        if source.get("diarize"):
            self._stage(TaskState.DIARIZING)
            self._measured("diarization", lambda: self._diarize(audio, workdir))

    def _workdir(self) -> Path:
        with self.w.live.lock:
            path = self.w.live.task_temp_dirs.get(self.task_id)
        if path is None:
            raise EngineError("task temp dir is gone")
        return path

    def _convert(self, source: dict[str, Any], dst: Path) -> float:
        try:
            seconds: float = convert_to_wav(
                Path(source["path"]),
                dst,
                method=source.get("conversion") or self.w.settings.conversion,
                gc_after=self.sw.gc_after_conversion,
                register=lambda proc: self.w.live.register_process(self.task_id, proc),
                timeout_s=CONVERSION_TIMEOUT_S,
                # Without the fix's `del audio`, the decoded audio lived as long as the task.
                hold=self.held,
            )
        except EngineError:
            if self.cancelled.is_set():  # cancel killed ffmpeg: not a decoding failure
                raise TaskCancelled() from None
            raise
        if self.sw.gc_after_conversion:
            self.w.metrics.gc_runs.labels("conversion").inc()
        return seconds

    def _diarize(self, audio: Path | None, workdir: Path) -> None:
        segments = self.state["segments"]
        end_s = segments[-1]["end"] if segments else 0.0

        def register(proc: Any) -> None:
            self.w.live.register_process(self.task_id, proc)

        params = (self.state.get("source") or {}).get("params") or {}
        work_s = float(params.get("diarize_seconds", min(5.0, 0.5 + len(segments) / 2000)))
        model = self.w.settings.diarization_model
        if audio is not None and model is not None:
            from reference_server.pipeline import diarization

            turns = diarization.run_diarization(
                audio, model, workdir, register, self.cancelled, timeout_s=3600.0
            )
            diarization.assign_speakers(segments, turns)
        elif audio is not None:
            raise EngineError("diarization requested but the server has no --diarization-model")
        else:
            out = run_child(
                [
                    sys.executable,
                    "-m",
                    "reference_server.pipeline.synthetic_diarize",
                    "--duration",
                    str(end_s),
                    "--work-seconds",
                    str(work_s),
                ],
                register=register,
                cancelled=self.cancelled,
                timeout_s=work_s + 60.0,
                what="diarization",
            )
            turns = orjson.loads(out)
            for seg in segments:
                mid = (seg["start"] + seg["end"]) / 2
                seg["speaker"] = next(
                    (t["speaker"] for t in turns if t["start"] <= mid < t["end"]), seg["speaker"]
                )
        self._progress(TaskState.DIARIZING, 1.0)
        self._maybe_checkpoint(force=True)

    def _measured(self, stage: str, fn: Any) -> Any:
        rss0, hwm0 = _memory()
        result = fn()
        rss1, hwm1 = _memory()
        record = {
            "rss_before_bytes": rss0,
            "rss_after_bytes": rss1,
            "peak_rss_before_bytes": hwm0,
            "peak_rss_after_bytes": hwm1,
        }
        self.state["stage_memory"] = {**(self.state.get("stage_memory") or {}), stage: record}
        self.w.metrics.stage_rss_delta.labels(stage).set(rss1 - rss0)
        self.w.metrics.stage_peak_rss.labels(stage).set(hwm1)
        return result

    # -- state updates -------------------------------------------------------------
    def _stage(self, status: TaskState) -> None:
        if self.cancelled.is_set():
            raise TaskCancelled()
        now = utcnow()
        ts = dict(self.state.get("timestamps") or {})
        if ts.get("started_at") is None:
            ts["started_at"] = now
        ts["updated_at"] = now
        self.state["timestamps"] = ts
        self.state["status"] = status.value
        self._progress(status, 0.0)
        self._maybe_checkpoint(force=True)

    def _progress(self, stage: TaskState, fraction: float) -> None:
        lo, hi = STAGE_BANDS[stage]
        value = round(lo + (hi - lo) * min(1.0, max(0.0, fraction)), 2)
        if value > self.state.get("progress", 0.0):
            self.state["progress"] = value

    def _on_segment(self, segment: dict[str, Any], fraction: float) -> None:
        segments = self.state["segments"]
        segments.append(segment)
        self.state["segment_count"] = len(segments)
        self._progress(TaskState.TRANSCRIBING, fraction)
        if len(segments) >= self.initial_segments:
            self._maybe_checkpoint(force=len(segments) == self.initial_segments)

    def _maybe_checkpoint(self, *, force: bool = False) -> None:
        interval = self.sw.checkpoint_interval_s
        if interval <= 0:
            return
        now = time.monotonic()
        if force or now - self.last_checkpoint >= interval:
            self.last_checkpoint = now
            self._write(op="checkpoint")

    def _status_fields(self, s: dict[str, Any]) -> dict[str, Any]:
        ts = dict(s.get("timestamps") or {})
        ts["updated_at"] = utcnow()
        s["timestamps"] = ts
        return {
            "status": s.get("status"),
            "progress": s.get("progress", 0.0),
            "segment_count": s.get("segment_count", 0),
            "error": s.get("error"),
            "timestamps": ts,
            "stage_memory": s.get("stage_memory") or {},
        }

    def _write(self, *, op: str, state: dict[str, Any] | None = None) -> None:
        """Write `state` (default: the run's state) to the DB as the design does."""
        fields = self._status_fields(self.state if state is None else state)
        retry = not self.db_gone
        if self.sw.segment_storage == "chunks":
            self._write_chunks()
            self.w.db(
                lambda: self.w.store.tasks.set_fields(self.task_id, fields, op=op), retry=retry
            )
            return
        # The original's merge of a status update into the DB task.
        fields["segments"] = self.state["segments"]
        db_task = self.w.db(
            lambda: self.w.store.tasks.get(self.task_id, op="worker-merge"), retry=retry
        )
        if db_task is None:
            return  # deleted meanwhile
        merged = db_task.copy() if self.sw.copy_on_merge else db_task
        merged.update(fields)
        merged.pop("_id", None)
        self.w.db(lambda: self.w.store.tasks.set_fields(self.task_id, merged, op=op), retry=retry)

    def _write_chunks(self) -> None:
        size = self.w.settings.chunk_size
        segments = self.state["segments"]
        count = len(segments)
        last = (count - 1) // size if count else -1
        for index in range(self.flushed_chunks, last + 1):
            chunk = segments[index * size : (index + 1) * size]
            self.w.db(
                functools.partial(self.w.store.tasks.put_chunk, self.task_id, index, chunk),
                retry=not self.db_gone,
            )
            if len(chunk) == size:
                self.flushed_chunks = index + 1

    def _defer_end(self, error: str | None, exc: DatabaseGone) -> str:
        """The DB did not come back in time: the task is failed, and the DB learns it as
        soon as it is back (a task must never stay `transcribing` after its worker ended)."""
        reason = error if self.db_gone and error else f"{exc}; the task's end was not saved"
        now = utcnow()
        self.w.db.defer(
            self.task_id,
            {
                "status": TaskState.FAILED.value,
                "error": reason,
                "timestamps.updated_at": now,
                "timestamps.finished_at": now,
            },
        )
        return reason

    def _finish(self, final: TaskState, error: str | None) -> None:
        live = self.w.live
        try:
            if self.w.closing:
                pass  # restart safety fails the task in the DB at the next start
            elif self.state:
                ts = dict(self.state.get("timestamps") or {})
                ts["finished_at"] = utcnow()
                ending: dict[str, Any] = {"status": final.value, "error": error, "timestamps": ts}
                if final == TaskState.COMPLETED:
                    ending["progress"] = 100.0
                # The DB first: a poll that sees the end in memory must find it in the DB.
                try:
                    self._write(op="finish", state={**self.state, **ending})
                except DatabaseGone as exc:
                    final = TaskState.FAILED
                    ending.update(status=final.value, error=self._defer_end(error, exc))
                self.state.update(ending)
            elif final != TaskState.COMPLETED:
                # Never started (cancelled while queued): record the end all the same.
                now = utcnow()
                fields = {
                    "status": final.value,
                    "error": error,
                    "timestamps.updated_at": now,
                    "timestamps.finished_at": now,
                }
                try:
                    self.w.db(
                        lambda: self.w.store.tasks.set_fields(self.task_id, fields, op="finish"),
                        retry=not self.db_gone,
                    )
                except DatabaseGone as exc:
                    self._defer_end(error, exc)
        except Exception as exc:
            log.exception("task %s: could not write its final state", self.task_id)
            # Never leave the DB saying it still runs: a small write, retried later.
            self._defer_end(None, DatabaseGone(f"{type(exc).__name__}: {short_error(exc)}"))
        finally:
            self.held.clear()
            self.w.metrics.tasks_finished.labels(final.value).inc()
            for proc in live.processes(self.task_id):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            with live.lock:
                tmp = live.task_temp_dirs.get(self.task_id)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if self.sw.cleanup_at_task_end:
                live.pop_all(self.task_id)
                gc.collect()
                self.w.metrics.gc_runs.labels("task-end").inc()
                log.info("task %s: memory cleanup done", self.task_id)
            if self.sw.malloc_trim:
                # After the cleanup, so the pages it freed can go back to the OS too.
                released = trim()
                log.info("task %s: malloc_trim(0) -> %s", self.task_id, released)
