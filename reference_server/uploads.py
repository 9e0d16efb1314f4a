"""Multipart audio uploads, streamed to the task's temp dir under a size limit.

The body is never buffered whole: parts are read in chunks and written as they come,
and a file that passes the limit is deleted with its directory before the 413 goes out.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

from aiohttp import BodyPartReader, web

from reference_server.errors import BadRequest, PayloadTooLarge
from reference_server.pipeline.audio import CONVERT_METHODS
from reference_server.pipeline.engines import ENGINE_NAMES
from reference_server.tasks import TaskService

CHUNK_BYTES = 256 * 1024
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


async def create_upload_task(service: TaskService, request: web.Request, user_id: str) -> str:
    limit = service.settings.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"upload is larger than {limit} bytes")
    doc = service.new_doc(user_id, {"kind": "upload"})
    task_id = doc["_id"]
    tmp = service.new_temp_dir(task_id)
    source: dict[str, Any] = doc["source"]
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not supported")
            if part.name == "file":
                suffix = "." + (part.filename or "audio").rsplit(".", 1)[-1]
                suffix = suffix if _SAFE_SUFFIX.match(suffix) else ".bin"
                path = tmp / f"upload{suffix}"
                size = 0
                with path.open("wb") as fh:
                    while chunk := await part.read_chunk(CHUNK_BYTES):
                        size += len(chunk)
                        if size > limit:
                            raise PayloadTooLarge(f"upload is larger than {limit} bytes")
                        fh.write(chunk)
                source.update(path=str(path), filename=part.filename or "", size_bytes=size)
            elif part.name == "engine":
                engine = (await part.text()).strip()
                if engine not in ENGINE_NAMES:
                    raise BadRequest(f"engine must be one of {', '.join(ENGINE_NAMES)}")
                source["engine"] = engine
            elif part.name == "conversion":
                conversion = (await part.text()).strip()
                if conversion not in CONVERT_METHODS:
                    raise BadRequest(f"conversion must be one of {', '.join(CONVERT_METHODS)}")
                source["conversion"] = conversion
            elif part.name == "diarize":
                flag = (await part.text()).strip().lower()
                if flag not in _TRUE | _FALSE:
                    raise BadRequest("diarize must be true or false")
                source["diarize"] = flag in _TRUE
            else:
                await part.release()
        if "path" not in source:
            raise BadRequest("multipart field 'file' is missing")
    except BaseException:
        with service.live.lock:
            service.live.task_temp_dirs.pop(task_id, None)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return await service.create_upload(doc)
