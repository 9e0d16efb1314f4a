"""Restart safety: what a server starting on a database cleans up after one that died.

A server that was SIGKILLed (or lost its machine) left its running tasks `queued`,
`converting`, `transcribing` or `diarizing` in the DB, and their temp dirs (uploads,
converted audio) on disk. The first process of a new server marks those tasks failed
("server restarted") and removes the temp dirs, found by their prefix
(`memdiag-task-<task id>-`) under the upload dir. Only dirs of tasks this database
knows are removed: the default upload dir is the system temp dir, which other servers
on other databases share, and their live tasks' files are not ours to delete.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from reference_server.models import TASK_ID_RE
from reference_server.store.tasks import TaskRepo

log = logging.getLogger(__name__)
TEMP_PREFIX = "memdiag-task-"


def temp_dir_prefix(task_id: str) -> str:
    return f"{TEMP_PREFIX}{task_id}-"


async def recover(repo: TaskRepo, upload_dir: Path | None) -> None:
    failed = await repo.fail_interrupted()
    if failed:
        log.warning("marked %d interrupted task(s) failed: server restarted", failed)
    removed = await remove_dead_temp_dirs(repo, upload_dir)
    if removed:
        log.warning("removed %d temp dir(s) of tasks a previous server left", removed)


async def remove_dead_temp_dirs(repo: TaskRepo, upload_dir: Path | None) -> int:
    base = upload_dir if upload_dir is not None else Path(tempfile.gettempdir())
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(TEMP_PREFIX) and p.is_dir()]
    except OSError:
        return 0  # no upload dir yet: nothing was left
    by_task: dict[str, list[Path]] = {}
    for path in candidates:
        task_id = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if TASK_ID_RE.match(task_id):
            by_task.setdefault(task_id, []).append(path)
    if not by_task:
        return 0
    # No task of this database runs yet (this process has just started): every dir of a
    # task it knows is a leftover.
    known = await repo.existing_ids(sorted(by_task))
    removed = 0
    for task_id in known:
        for path in by_task[task_id]:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
