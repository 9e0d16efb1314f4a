"""The in-memory registry of live tasks and their per-task structures (no I/O).

The original kept four process-wide dicts guarded by one lock: `transcription_tasks`
(the live task state), `task_temp_dirs`, `task_cancelled` and
`task_diarization_processes`. The published fix pops all four in the worker's `finally:`;
without it (db-polling) they grow with every task ever run, which is one of the leaks
the modes let us measure. Worker threads and the event loop both touch it, hence a
threading lock.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any


class LiveRegistry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.transcription_tasks: dict[str, dict[str, Any]] = {}
        self.task_temp_dirs: dict[str, Path] = {}
        self.task_cancelled: dict[str, threading.Event] = {}
        self.task_diarization_processes: dict[str, list[subprocess.Popen[bytes]]] = {}

    def get_live(self, task_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.transcription_tasks.get(task_id)

    def cancel_flag(self, task_id: str) -> threading.Event:
        with self.lock:
            return self.task_cancelled.setdefault(task_id, threading.Event())

    def register_process(self, task_id: str, proc: subprocess.Popen[bytes]) -> None:
        """Record a task's child, and end it at once if the task was cancelled already.

        A cancel sets the flag, then kills the registered children; a child started in
        between (spawned, not yet registered) would be missed and the worker would wait
        on it forever (a stopped ffmpeg never ends). Registering, then checking the flag,
        closes that window: one side always sees the other.
        """
        with self.lock:
            self.task_diarization_processes.setdefault(task_id, []).append(proc)
            flag = self.task_cancelled.get(task_id)
        if flag is not None and flag.is_set() and proc.poll() is None:
            proc.kill()

    def processes(self, task_id: str) -> list[subprocess.Popen[bytes]]:
        with self.lock:
            return list(self.task_diarization_processes.get(task_id, ()))

    def pop_all(self, task_id: str) -> None:
        """Incident change 6: drop every per-task entry."""
        with self.lock:
            self.transcription_tasks.pop(task_id, None)
            self.task_temp_dirs.pop(task_id, None)
            self.task_cancelled.pop(task_id, None)
            self.task_diarization_processes.pop(task_id, None)

    def sweep(self, active_ids: set[str]) -> int:
        """Incident change 8: remove entries of tasks the DB no longer lists as active."""
        removed = 0
        with self.lock:
            tables: list[dict[str, Any]] = [
                self.transcription_tasks,
                self.task_temp_dirs,
                self.task_cancelled,
                self.task_diarization_processes,
            ]
            for table in tables:
                for task_id in [t for t in table if t not in active_ids]:
                    del table[task_id]
                    removed += 1
        return removed

    def live_count(self) -> int:
        with self.lock:
            return len(self.transcription_tasks)

    def sizes(self) -> dict[str, int]:
        with self.lock:
            return {
                "transcription_tasks": len(self.transcription_tasks),
                "task_temp_dirs": len(self.task_temp_dirs),
                "task_cancelled": len(self.task_cancelled),
                "task_diarization_processes": len(self.task_diarization_processes),
            }
