"""The worker's way to the database: run a coroutine on the server's loop, and retry it
while the database is away.

Worker threads reach the DB by running coroutines on the server's event loop (the
original's helper did the same), so both drivers work unchanged. A database that is
killed or restarting makes the driver raise `ConnectionFailure` (a refused connection,
a reset socket, no server selected within --db-timeout-s), and a busy one answers with
a transient error (errors.is_transient); the call is then retried with
a growing pause for at most --db-retry-s in total, so a task survives a DB restart with
none of its work lost. Every write the worker makes is idempotent (`$set` of whole
fields, chunk upserts by a predictable `_id`), so a retry after a write whose reply was
lost does no harm. When the budget runs out, `DatabaseGone` fails the task with a reason,
and that end is kept here (`defer`) and written by `flush_deferred`, a job on the loop,
once the database answers again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pymongo.errors import PyMongoError

from reference_server.errors import is_transient, short_error
from reference_server.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT_S = 120.0  # one attempt; the driver's own timeouts end it much sooner
FIRST_PAUSE_S = 0.1
MAX_PAUSE_S = 2.0


class DatabaseGone(Exception):
    """The database stayed unreachable for the whole retry budget (or the server stops)."""


class DbCaller:
    def __init__(self, loop: asyncio.AbstractEventLoop, retry_s: float, metrics: Metrics) -> None:
        self.loop = loop
        self.retry_s = retry_s
        self.metrics = metrics
        self.stopping = threading.Event()  # set at shutdown: retries end at once
        self._deferred: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, make: Callable[[], Coroutine[Any, Any, T]], *, retry: bool = True) -> T:
        """`make()`'s result, run on the loop; `make` is called again for each attempt."""
        deadline = time.monotonic() + (self.retry_s if retry else 0.0)
        pause = FIRST_PAUSE_S
        while True:
            future = asyncio.run_coroutine_threadsafe(make(), self.loop)
            try:
                return future.result(CALL_TIMEOUT_S)
            except PyMongoError as exc:
                if not is_transient(exc):
                    raise
                if self.stopping.is_set():
                    raise DatabaseGone("server shutting down") from exc
                if time.monotonic() + pause > deadline:
                    raise DatabaseGone(
                        f"database unreachable for more than {self.retry_s:g} s: {short_error(exc)}"
                    ) from exc
                self.metrics.worker_db_retries.inc()
                log.warning("DB unreachable (%s); retrying in %.1f s", short_error(exc), pause)
                self.stopping.wait(pause)
                pause = min(pause * 2, MAX_PAUSE_S)

    def defer(self, task_id: str, fields: dict[str, Any]) -> None:
        """Fields to `$set` on a task whenever the database is back."""
        with self._lock:
            self._deferred[task_id] = fields

    def deferred(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._deferred)

    async def flush_deferred(
        self,
        write: Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]],
        interval_s: float = 2.0,
    ) -> None:
        """Forever: write the deferred task ends, oldest first, until one fails."""
        while True:
            await asyncio.sleep(interval_s)
            for task_id, fields in self.deferred().items():
                try:
                    await write(task_id, fields)
                    log.warning("task %s: its end was saved now that the DB is back", task_id)
                except PyMongoError as exc:
                    if is_transient(exc):
                        break  # still away: try again later
                    log.exception("task %s: its end could not be saved", task_id)
                with self._lock:
                    self._deferred.pop(task_id, None)
