"""Errors the API answers with, and the one middleware that turns them into JSON.

    ApiError (500 internal)
    ├── BadRequest (400 bad_request)
    ├── Unauthorized (401 unauthorized)
    ├── NotFound (404 not_found)        also: another user's task, a malformed id
    ├── Conflict (409 conflict)         cancel a finished task, delete a running one
    ├── PayloadTooLarge (413 too_large)
    ├── Unprocessable (422 unprocessable)  well-formed, but cannot be done (a task too big)
    ├── RequestTimeout (408 timeout)     an upload that trickles past --upload-timeout-s
    └── UnsupportedMedia (415 unsupported_media_type)   an upload that is not audio

Handlers raise; they hold no try/except ladders. Every error body is
`{"error": code, "detail": ...}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

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


def _json_error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


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
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _json_error(500, "internal", "internal server error")
