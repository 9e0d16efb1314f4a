"""MongoDB access: one client (motor or PyMongo's AsyncMongoClient) and the repositories.

FerretDB v1 indexes only a filter of exactly `{_id: value}`, so every hot read is an
`_id` lookup and ownership is checked in code. Each operation carries a `comment` naming
its code path (`status`, `list`, `worker-merge` ...): the command listener labels its
metrics by it, which works with motor's thread pool where context variables would not.

Timeouts bound every wait on a database that went away: server selection gives up
after `timeout_s` (a request then answers 503 through the error middleware instead of
hanging), and a socket that stops answering is dropped after SOCKET_TIMEOUT_S, which
is long enough for db-polling's whole-document reads on a busy embedded DB.
"""

from __future__ import annotations

from typing import Any

from pymongo import monitoring

from reference_server.store.tasks import TaskRepo
from reference_server.store.users import UserRepo

__all__ = ["Store", "TaskRepo", "UserRepo", "open_client"]


SOCKET_TIMEOUT_S = 30.0
# Opening a connection includes the handshake, which a DB at full CPU answers slowly;
# a refused connection (the DB is down) fails at once whatever this is.
CONNECT_TIMEOUT_S = 10.0


def open_client(
    uri: str, driver: str, listener: monitoring.CommandListener, *, timeout_s: float = 3.0
) -> Any:
    kwargs: dict[str, Any] = {
        "event_listeners": [listener],
        "tz_aware": True,
        "serverSelectionTimeoutMS": int(timeout_s * 1000),
        "connectTimeoutMS": int(CONNECT_TIMEOUT_S * 1000),
        "socketTimeoutMS": int(SOCKET_TIMEOUT_S * 1000),
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
