"""MongoDB access: one client (motor or PyMongo's AsyncMongoClient) and the repositories.

FerretDB v1 indexes only a filter of exactly `{_id: value}`, so every hot read is an
`_id` lookup and ownership is checked in code. Each operation carries a `comment` naming
its code path (`status`, `list`, `worker-merge` ...): the command listener labels its
metrics by it, which works with motor's thread pool where context variables would not.
"""

from __future__ import annotations

from typing import Any

from pymongo import monitoring

from reference_server.store.tasks import TaskRepo
from reference_server.store.users import UserRepo

__all__ = ["Store", "TaskRepo", "UserRepo", "open_client"]


def open_client(uri: str, driver: str, listener: monitoring.CommandListener) -> Any:
    kwargs: dict[str, Any] = {
        "event_listeners": [listener],
        "tz_aware": True,
        "serverSelectionTimeoutMS": 10_000,
        "appname": "memdiag-reference-server",
    }
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient

        return AsyncIOMotorClient(uri, **kwargs)
    if driver == "pymongo-async":
        from pymongo import AsyncMongoClient

        return AsyncMongoClient(uri, **kwargs)
    raise ValueError(f"unknown driver {driver!r}")


class Store:
    def __init__(self, client: Any, database: str, driver: str) -> None:
        self.client = client
        self.driver = driver
        db = client[database]
        self.db = db
        self.tasks = TaskRepo(db["tasks"], db["segment_chunks"])
        self.users = UserRepo(db["users"], db["tokens"])

    async def ping(self) -> None:
        await self.db.command("ping", comment="healthz")

    async def server_version(self) -> str:
        info = await self.db.command("buildInfo", comment="startup")
        return str(info.get("version", "unknown"))

    async def close(self) -> None:
        result = self.client.close()
        if hasattr(result, "__await__"):  # AsyncMongoClient.close() is a coroutine
            await result
