"""Typed application state keys (aiohttp AppKey), shared by app, routes and debug."""

from __future__ import annotations

from aiohttp import web

from reference_server.auth import Authenticator
from reference_server.live import LiveRegistry
from reference_server.metrics import Metrics
from reference_server.pipeline.worker import Worker
from reference_server.settings import Settings
from reference_server.store import Store
from reference_server.tasks import TaskService

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
LIVE = web.AppKey("live", LiveRegistry)
STORE = web.AppKey("store", Store)
WORKER = web.AppKey("worker", Worker)
SERVICE = web.AppKey("service", TaskService)
AUTH = web.AppKey("auth", Authenticator)
