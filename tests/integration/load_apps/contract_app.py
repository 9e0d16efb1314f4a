"""A tiny in-memory server speaking the reference-server contract, with faults on demand.

The load tests need servers that misbehave in known ways (a validation test must see
the right failure names) or are slow on purpose (the open-model test): this is one,
run as a subprocess. It prints its base URL as its first stdout line, like
`python -m reference_server`.

    python contract_app.py --fault none|slow-status|decreasing-progress|foreign-task|
        wrong-segment-count|bad-schema|foreign-list|status-regress [--view full|summary]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAULTS = (
    "none",
    "slow-status",
    "decreasing-progress",
    "foreign-task",
    "wrong-segment-count",
    "bad-schema",
    "foreign-list",
    "status-regress",
)


@dataclass
class Task:
    task_id: str
    user: str
    segments: int
    rate: float
    created_s: float = field(default_factory=time.time)
    upload: bool = False

    def produced(self) -> int:
        if self.upload:
            return 0
        return min(self.segments, int((time.time() - self.created_s) * self.rate))

    def status(self) -> str:
        if self.upload:
            return "failed" if time.time() - self.created_s > 0.5 else "converting"
        return "completed" if self.produced() >= self.segments else "transcribing"


def segment(i: int) -> dict[str, Any]:
    words = [{"word": "w", "start": i * 1.0, "end": i * 1.0 + 0.5, "probability": 0.9}]
    return {
        "id": i,
        "start": i * 1.0,
        "end": i + 1.0,
        "text": "hello",
        "speaker": None,
        "words": words,
    }


def make_app(fault: str, view: str) -> web.Application:
    users: dict[str, str] = {}  # token -> user id
    tasks: dict[str, Task] = {}
    polls = itertools.count()

    def user_of(request: web.Request) -> str:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in users:
            raise web.HTTPUnauthorized(text='{"error": "unauthorized"}')
        return users[token]

    def own_task(request: web.Request) -> Task:
        task = tasks.get(request.match_info["task_id"])
        if task is None or task.user != user_of(request):
            raise web.HTTPNotFound(text='{"error": "not_found"}')
        return task

    def view_of(task: Task) -> dict[str, Any]:
        n = task.produced()
        status = task.status()
        doc: dict[str, Any] = {
            "task_id": task.task_id,
            "status": status,
            "progress": 100.0 if status == "completed" else 100.0 * n / task.segments,
            "segment_count": n,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": None,
            "started_at": None,
            "finished_at": None,
            "error": "no audio engine configured" if status == "failed" else None,
        }
        if fault == "wrong-segment-count" and status == "completed":
            doc["segment_count"] = n - 1
        if view == "full":
            doc["segments"] = [segment(i) for i in range(doc["segment_count"])]
        return doc

    async def create_user(request: web.Request) -> web.Response:
        token, user_id = uuid.uuid4().hex, uuid.uuid4().hex
        users[token] = user_id
        return web.json_response({"user_id": user_id, "token": token}, status=201)

    async def create_task(request: web.Request) -> web.Response:
        user = user_of(request)
        task_id = uuid.uuid4().hex
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            if "file" not in form:
                return web.json_response({"error": "bad_request"}, status=400)
            tasks[task_id] = Task(task_id, user, 1, 1.0, upload=True)
        else:
            spec = (await request.json())["synthetic"]
            tasks[task_id] = Task(
                task_id, user, int(spec["segments"]), float(spec["segments_per_second"])
            )
        return web.json_response({"task_id": task_id}, status=202)

    async def status(request: web.Request) -> web.Response:
        task = own_task(request)
        n = next(polls)
        if fault == "slow-status":
            await asyncio.sleep(0.2)
        doc = view_of(task)
        if fault == "decreasing-progress" and n % 2 and doc["progress"] > 0:
            doc["progress"] = doc["progress"] / 2
        if fault == "foreign-task":
            doc["task_id"] = uuid.uuid4().hex
        if fault == "bad-schema":
            doc["progress"] = str(doc["progress"])
        if fault == "status-regress" and doc["status"] == "completed" and n % 2:
            doc["status"] = "queued"
        return web.json_response(doc)

    async def segments_page(request: web.Request) -> web.Response:
        task = own_task(request)
        offset = int(request.query.get("offset", 0))
        limit = int(request.query.get("limit", 100))
        total = task.produced()
        if fault == "wrong-segment-count" and task.status() == "completed":
            total -= 1
        segs = [segment(i) for i in range(offset, min(total, offset + limit))]
        return web.json_response({"segments": segs, "offset": offset, "total": total})

    async def list_tasks(request: web.Request) -> web.Response:
        user = user_of(request)
        mine = [view_of(t) for t in tasks.values() if t.user == user]
        for entry in mine:
            entry.pop("segments", None)
        if fault == "foreign-list":
            others = [t for t in tasks.values() if t.user != user]
            if others:
                mine.append({**view_of(random.choice(others)), "segments": None})
                mine[-1].pop("segments")
        active = [t for t in mine if t["status"] not in ("completed", "failed", "cancelled")]
        return web.json_response(
            {
                "active_count": len(active),
                "total_count": len(mine),
                "active_tasks": active,
                "all_tasks": mine,
            }
        )

    app = web.Application()
    app.router.add_post("/api/users", create_user)
    app.router.add_post("/api/tasks", create_task)
    app.router.add_get("/api/tasks", list_tasks)
    app.router.add_get("/api/tasks/{task_id}", status)
    app.router.add_get("/api/tasks/{task_id}/segments", segments_page)
    return app


async def serve(fault: str, view: str) -> None:
    runner = web.AppRunner(make_app(fault, view), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"http://127.0.0.1:{port}/", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fault", choices=FAULTS, default="none")
    parser.add_argument("--view", choices=("full", "summary"), default="summary")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.fault, args.view))
    return 0


if __name__ == "__main__":
    sys.exit(main())
