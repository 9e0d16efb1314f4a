"""Multipart audio uploads, streamed to the task's temp dir under a size and time limit.

The body is never buffered whole: parts are read in chunks and written as they come,
and a file that passes the size limit (413) or is still arriving after
`--upload-timeout-s` (408) is deleted with its directory before the error goes out.
The file is stored as `upload.<suffix>` whatever the client called it (a name like
`../../etc/passwd` or one with control characters never reaches the file system); the
client's name is kept, cleaned, only as a label in the task document.

A complete upload is probed with ffprobe before the task is queued: what is not audio
answers 415 naming the format ffprobe saw, at once, instead of a task that fails
seconds later in the worker (and holds a worker and a temp dir until then).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from reference_server.errors import BadRequest, PayloadTooLarge, RequestTimeout, UnsupportedMedia
from reference_server.pipeline.audio import CONVERT_METHODS
from reference_server.pipeline.engines import ENGINE_NAMES
from reference_server.tasks import TaskService

CHUNK_BYTES = 256 * 1024
PROBE_TIMEOUT_S = 20.0
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def label_of(filename: str) -> str:
    """The client's file name as a label: last path component, no control characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNPRINTABLE.sub("", base)[:200]


async def create_upload_task(service: TaskService, request: web.Request, user_id: str) -> str:
    limit = service.settings.max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"upload is larger than {limit} bytes")
    doc = service.new_doc(user_id, {"kind": "upload"})
    task_id = doc["_id"]
    tmp = service.new_temp_dir(task_id)
    source: dict[str, Any] = doc["source"]
    timeout_s = service.settings.upload_timeout_s
    try:
        try:
            async with asyncio.timeout(timeout_s):
                await _read_parts(request, tmp, source, limit)
        except TimeoutError:
            raise RequestTimeout(f"upload not complete after {timeout_s:g} s") from None
        except (HttpProcessingError, ValueError, LookupError) as exc:
            # aiohttp's multipart parser raises these on a malformed body or part header.
            detail = str(getattr(exc, "message", "") or exc).strip().splitlines()
            raise BadRequest(f"malformed multipart body: {(detail or ['?'])[0]}") from None
        if "path" not in source:
            raise BadRequest("multipart field 'file' is missing")
        await probe_audio(Path(source["path"]), source["filename"])
    except BaseException:
        with service.live.lock:
            service.live.task_temp_dirs.pop(task_id, None)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return await service.create_upload(doc)


async def _read_parts(request: web.Request, tmp: Path, source: dict[str, Any], limit: int) -> None:
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not supported")
        if part.name == "file":
            if "path" in source:
                raise BadRequest("multipart field 'file' given twice")
            suffix = "." + (part.filename or "audio").rsplit(".", 1)[-1]
            suffix = suffix.lower() if _SAFE_SUFFIX.match(suffix) else ".bin"
            path = tmp / f"upload{suffix}"
            size = 0
            with path.open("wb") as fh:
                while chunk := await part.read_chunk(CHUNK_BYTES):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"upload is larger than {limit} bytes")
                    fh.write(chunk)
            source.update(path=str(path), filename=label_of(part.filename or ""), size_bytes=size)
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
            # Unknown fields are refused, not ignored, as in JSON bodies (`$where`, `a.b` ...).
            raise BadRequest(f"unknown multipart field {label_of(part.name or '')!r}")


async def probe_audio(path: Path, label: str) -> None:
    """415 unless ffprobe finds an audio stream in `path` (skipped without ffprobe)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return  # conversion then fails the task with ffmpeg's own reason
    name = f"upload {label!r}" if label else "the upload"
    proc = await asyncio.create_subprocess_exec(
        ffprobe,
        *("-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise UnsupportedMedia(
            f"{name}: ffprobe could not read it in {PROBE_TIMEOUT_S:g} s"
        ) from None
    if proc.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines() or ["unreadable"]
        # ffprobe prefixes its reason with the file path: the client never sees our paths.
        why = reason[-1].replace(str(path), "").lstrip(": ")
        raise UnsupportedMedia(f"{name} is not audio ffmpeg can read: {why}")
    info = json.loads(out or b"{}")
    fmt = (info.get("format") or {}).get("format_name", "unknown")
    kinds = sorted({str(s.get("codec_type")) for s in info.get("streams") or []})
    if "audio" not in kinds:
        has = f"only {', '.join(kinds)} streams" if kinds else "no streams"
        raise UnsupportedMedia(f"{name} is {fmt} with {has}, no audio stream")
