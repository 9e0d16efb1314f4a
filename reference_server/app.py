"""create_app(settings) -> web.Application: state, routes, and the background jobs.

The DB client, the worker pool, the loop-lag watcher and the orphan sweep start and
stop in one cleanup context, so a test's app and a served app live the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from reference_server.auth import Authenticator
from reference_server.debug import setup_debug
from reference_server.errors import error_middleware
from reference_server.live import LiveRegistry
from reference_server.metrics import Metrics, watch_loop_lag
from reference_server.openapi import register
from reference_server.pipeline.worker import Worker
from reference_server.recovery import recover
from reference_server.routes import ROUTES
from reference_server.settings import Settings
from reference_server.state import AUTH, LIVE, METRICS, SERVICE, SETTINGS, STORE, WORKER
from reference_server.store import Store, open_client
from reference_server.tasks import TaskService

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, fail_interrupted: bool = True) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[LIVE] = LiveRegistry()
    register(app, ROUTES)
    app.cleanup_ctx.append(_lifecycle(fail_interrupted))
    setup_debug(app, settings.admin_token, settings.debug_port)
    return app


def _lifecycle(fail_interrupted: bool):  # type: ignore[no-untyped-def]
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        settings, metrics, live = app[SETTINGS], app[METRICS], app[LIVE]
        client = open_client(
            settings.mongo_uri, settings.driver, metrics.listener, timeout_s=settings.db_timeout_s
        )
        store = Store(client, settings.database, settings.driver)
        app[STORE] = store
        if fail_interrupted:
            await recover(store.tasks, settings.upload_dir)
        worker = Worker(settings, store, live, metrics, asyncio.get_running_loop())
        app[WORKER] = worker
        app[SERVICE] = TaskService(settings, store, live, metrics, worker)
        app[AUTH] = Authenticator(store.users, settings.auth_cache_size)
        jobs = [
            asyncio.create_task(watch_loop_lag(metrics), name="loop-lag"),
            asyncio.create_task(
                worker.db.flush_deferred(
                    lambda task_id, fields: store.tasks.set_fields(task_id, fields, op="finish")
                ),
                name="deferred-task-ends",
            ),
        ]
        interval = settings.switches.orphan_sweep_interval_s
        if interval > 0:
            jobs.append(asyncio.create_task(_orphan_sweep(app, interval), name="orphan-sweep"))
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
            for job in jobs:
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            worker.shutdown()
            await store.close()

    return lifecycle


async def _orphan_sweep(app: web.Application, interval_s: float) -> None:
    """Incident change 8: drop live entries of tasks the DB no longer lists as active."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            active = await app[STORE].tasks.active_ids()
        except Exception:
            log.exception("orphan sweep: could not list active tasks")
            continue
        # Tasks still held by a worker are never orphans, whatever the DB says.
        running = {t for t in list(app[LIVE].task_cancelled) if app[WORKER].future(t)}
        removed = app[LIVE].sweep(active | running)
        gc.collect()
        app[METRICS].gc_runs.labels("orphan-sweep").inc()
        log.info("orphan sweep removed %d entr(ies); periodic cleanup done", removed)
