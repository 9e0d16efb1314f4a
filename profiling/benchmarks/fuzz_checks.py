"""schemathesis hooks for fuzzing the reference server (loaded through SCHEMATHESIS_HOOKS).

One extra check beside schemathesis' own: every 4xx answer carries the JSON error body
`{"error": str, "detail": str}` (errors.py), whether or not the route documents that
status. Only the `st` child process imports this module.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def json_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} answer is not JSON: {response.content[:120]!r}"
        ) from None
    if not (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("detail"), str)
    ):
        raise AssertionError(f"{response.status_code} answer lacks {{error, detail}}: {body!r}")
    return None
