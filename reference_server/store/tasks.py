"""The task repository: task documents and, for segment_storage=chunks, chunk documents."""

from __future__ import annotations

from typing import Any

from reference_server.models import ACTIVE_STATES, TaskState, chunk_id, utcnow

NO_SEGMENTS = {"segments": 0}


class TaskRepo:
    def __init__(self, tasks: Any, chunks: Any) -> None:
        self.tasks = tasks
        self.chunks = chunks

    async def insert(self, doc: dict[str, Any]) -> None:
        await self.tasks.insert_one(doc, comment="create")

    async def get(
        self, task_id: str, *, op: str, projection: dict[str, int] | None = None
    ) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self.tasks.find_one(
            {"_id": task_id}, projection, comment=op
        )
        return doc

    async def get_by_id_and_user(
        self, task_id: str, user_id: str, *, op: str, projection: dict[str, int] | None = None
    ) -> dict[str, Any] | None:
        """The original's lookup, by `_id` only (the one indexed filter), owner checked here."""
        doc = await self.get(task_id, op=op, projection=projection)
        if doc is None or doc.get("user_id") != user_id:
            return None
        return doc

    async def set_fields(self, task_id: str, fields: dict[str, Any], *, op: str) -> None:
        await self.tasks.update_one({"_id": task_id}, {"$set": fields}, comment=op)

    async def put_chunk(self, task_id: str, index: int, segments: list[dict[str, Any]]) -> None:
        await self.chunks.replace_one(
            {"_id": chunk_id(task_id, index)},
            {"_id": chunk_id(task_id, index), "task_id": task_id, "segments": segments},
            upsert=True,
            comment="checkpoint",
        )

    async def get_chunk(self, task_id: str, index: int, *, op: str) -> list[dict[str, Any]]:
        doc = await self.chunks.find_one({"_id": chunk_id(task_id, index)}, comment=op)
        return list(doc["segments"]) if doc else []

    async def list_active(
        self, user_id: str, limit: int, *, projection: dict[str, int] | None
    ) -> list[dict[str, Any]]:
        cursor = (
            self.tasks.find(
                {"user_id": user_id, "status": {"$in": list(ACTIVE_STATES)}},
                projection,
                comment="list",
            )
            .sort("timestamps.created_at", -1)
            .limit(limit)
        )
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    async def list_all(
        self, user_id: str, *, projection: dict[str, int] | None, limit: int = 0
    ) -> list[dict[str, Any]]:
        cursor = self.tasks.find({"user_id": user_id}, projection, comment="list").sort(
            "timestamps.created_at", -1
        )
        if limit:
            cursor = cursor.limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    async def count_by_user(self, user_id: str) -> int:
        count: int = await self.tasks.count_documents({"user_id": user_id}, comment="list")
        return count

    async def active_ids(self) -> set[str]:
        cursor = self.tasks.find(
            {"status": {"$in": list(ACTIVE_STATES)}}, {"_id": 1}, comment="orphan-sweep"
        )
        return {doc["_id"] for doc in await cursor.to_list(None)}

    async def existing_ids(self, ids: list[str]) -> set[str]:
        cursor = self.tasks.find({"_id": {"$in": ids}}, {"_id": 1}, comment="startup")
        return {doc["_id"] for doc in await cursor.to_list(None)}

    async def fail_interrupted(self) -> int:
        """Restart safety: tasks a dead server left running are failed, never stuck."""
        now = utcnow()
        result = await self.tasks.update_many(
            {"status": {"$in": list(ACTIVE_STATES)}},
            {
                "$set": {
                    "status": TaskState.FAILED.value,
                    "error": "server restarted",
                    "timestamps.updated_at": now,
                    "timestamps.finished_at": now,
                }
            },
            comment="startup",
        )
        return int(result.modified_count)

    async def delete(self, task_id: str, chunk_count: int) -> None:
        for index in range(chunk_count):
            await self.chunks.delete_one({"_id": chunk_id(task_id, index)}, comment="delete")
        await self.tasks.delete_one({"_id": task_id}, comment="delete")
