"""lean's orjson summary is byte for byte the summary view every other path encodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from bson.tz_util import utc as bson_utc

from reference_server.models import summary_json, summary_view, utcnow

NOW = utcnow()


def _doc(**timestamps: Any) -> dict[str, Any]:
    return {
        "_id": "0123456789abcdef0123456789abcdef",
        "user_id": "u",
        "status": "transcribing",
        "progress": 37.123456789,
        "segment_count": 20000,
        "error": None,
        "timestamps": timestamps,
        "segments": [{"id": 0}],
    }


CASES = {
    "live, aware UTC": _doc(created_at=NOW, updated_at=NOW, started_at=NOW, finished_at=None),
    "from the DB, bson's utc": _doc(
        created_at=NOW.astimezone(bson_utc), updated_at=NOW.astimezone(bson_utc)
    ),
    "naive": _doc(created_at=NOW.replace(tzinfo=None), finished_at=NOW.replace(tzinfo=None)),
    "no microseconds": _doc(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    "another offset": _doc(created_at=NOW.astimezone(timezone(timedelta(hours=2)))),
    "strings": _doc(created_at="2026-01-02T03:04:05Z", updated_at="yesterday"),
    "no timestamps": {"_id": "f" * 32},
    "failed": dict(_doc(created_at=NOW), status="failed", error="engine crashed: x"),
}


@pytest.mark.parametrize("doc", CASES.values(), ids=CASES.keys())
def test_summary_json_equals_the_encoded_summary_view(doc: dict[str, Any]) -> None:
    assert summary_json(doc) == orjson.dumps(summary_view(doc))
