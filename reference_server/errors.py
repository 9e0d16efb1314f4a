"""Errors the API answers with, and the one middleware that turns them into JSON.

    ApiError (500 internal)
    ├── BadRequest (400 bad_request)
    ├── Unauthorized (401 unauthorized)
    ├── NotFound (404 not_found)        also: another user's task, a malformed id
    ├── Conflict (409 conflict)         cancel a finished task, delete a running one
    ├── PayloadTooLarge (413 too_large)
    ├── Unprocessable (422 unprocessable)  well-formed, but cannot be done (a task too big)
    ├── RequestTimeout (408 timeout)     an upload that trickles past --upload-timeout-s
    ├── UnsupportedMedia (415 unsupported_media_type)   an upload that is not audio
    ├── InsufficientStorage (507 insufficient_storage)   also: ENOSPC/EDQUOT writing a file
    └── ServiceUnavailable (503 db_unavailable)          also: a transient DB error (below)

Handlers raise; they hold no try/except ladders. Every error body is
`{"error": code, "detail": ...}`. A database that cannot be reached (killed, restarting,
unreachable within the driver's timeouts) is not the server's bug: it answers 503 with
`Retry-After`, so a frontend backs off and polls again instead of showing a crash.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "too_large"


class Unprocessable(ApiError):
    status = 422
    code = "unprocessable"


class RequestTimeout(ApiError):
    status = 408
    code = "timeout"


class UnsupportedMedia(ApiError):
    status = 415
    code = "unsupported_media_type"


class InsufficientStorage(ApiError):
    status = 507
    code = "insufficient_storage"


class ServiceUnavailable(ApiError):
    status = 503
    code = "db_unavailable"


# Server-side codes that mean "not now" (shutting down, stepping down, busy), not "wrong".
_TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def is_transient(exc: BaseException) -> bool:
    """A DB error that goes away by itself: the DB is unreachable, restarting or busy.

    FerretDB's SQLite backend answers concurrent writers with InternalError "database
    is locked (SQLITE_BUSY)" under load; it is a busy DB, not a bad request.
    """
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, OperationFailure):
        return (
            exc.code in _TRANSIENT_CODES
            or exc.has_error_label("RetryableWriteError")
            or "database is locked" in str(exc)
        )
    return False


RETRY_AFTER_S = 2
DB_UNAVAILABLE = "the database is unreachable; retry shortly"
DISK_FULL = "no space left on the server's upload disk; nothing was stored"


def _json_error(status: int, code: str, detail: str) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return web.json_response({"error": code, "detail": detail}, status=status, headers=headers)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _json_error(exc.status, exc.code, exc.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else exc.reason.lower().replace(" ", "_")
        response = _json_error(exc.status, code, exc.reason)
        # Keep what the exception says beyond its body: a 405's Allow (RFC 9110) above all.
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response
    except PyMongoError as exc:
        if not is_transient(exc):
            log.exception("unhandled error on %s %s", request.method, request.path)
            return _json_error(500, "internal", "internal server error")
        # Expected while the DB restarts or is busy: one line, not a traceback per request.
        log.warning(
            "%s %s: database unreachable: %s", request.method, request.path, short_error(exc)
        )
        return _json_error(503, ServiceUnavailable.code, DB_UNAVAILABLE)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            log.exception("unhandled error on %s %s", request.method, request.path)
            return _json_error(500, "internal", "internal server error")
        # The writer has removed what it wrote; the disk is the operator's to fix.
        log.warning("%s %s: %s", request.method, request.path, exc)
        return _json_error(507, InsufficientStorage.code, DISK_FULL)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _json_error(500, "internal", "internal server error")


def short_error(exc: BaseException) -> str:
    """The driver's first clause (its topology description runs to hundreds of characters)."""
    text = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0]
    return text.split(", full error:")[0][:200]
