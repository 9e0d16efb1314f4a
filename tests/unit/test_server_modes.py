"""Pure parts of the server: mode presets, switch overrides, input validation, sanitizing."""

from __future__ import annotations

import math

import pytest

from reference_server.errors import BadRequest
from reference_server.modes import PRESETS, ConfigError, parse_configuration, resolve
from reference_server.pipeline.engines.base import sanitize_segment
from reference_server.pipeline.engines.synthetic import SyntheticParams, generate
from reference_server.tasks import parse_synthetic


def test_presets_differ_in_the_incident_switches():
    db, mem, lean = PRESETS["db-polling"], PRESETS["memory-first"], PRESETS["lean"]
    assert (db.poll_source, mem.poll_source, lean.poll_source) == ("db", "memory", "memory")
    assert db.copy_on_merge and not mem.copy_on_merge
    assert (db.active_list_limit, mem.active_list_limit) == (100, 20)
    assert mem.cleanup_at_task_end and not db.cleanup_at_task_end
    assert (mem.status_view, lean.status_view) == ("full", "summary")
    assert (mem.segment_storage, lean.segment_storage) == ("embedded", "chunks")


def test_overrides_change_one_switch_only():
    switched = resolve("memory-first", ["active_list_limit=100", "copy-on-merge=true"])
    assert switched.active_list_limit == 100 and switched.copy_on_merge is True
    base = PRESETS["memory-first"].as_dict()
    changed = {k for k, v in switched.as_dict().items() if base[k] != v}
    assert changed == {"active_list_limit", "copy_on_merge"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("status_view=tiny", "switch status_view takes one of full, summary, not 'tiny'"),
        ("nope=1", "unknown switch 'nope'"),
        ("copy_on_merge=maybe", "switch copy_on_merge takes true or false, not 'maybe'"),
        ("active_list_limit", "override 'active_list_limit' is not switch=value"),
    ],
)
def test_bad_overrides_name_the_fix(item, message):
    with pytest.raises(ConfigError, match=message):
        resolve("lean", [item])


def test_configuration_strings():
    assert parse_configuration("lean") == ("lean", ())
    assert parse_configuration("lean:json_encoder=json,projections=false") == (
        "lean",
        ("json_encoder=json", "projections=false"),
    )
    with pytest.raises(ConfigError, match="unknown mode 'fast'"):
        parse_configuration("fast")


def test_synthetic_validation():
    params, diarize = parse_synthetic({"segments": 5, "segments_per_second": 2})
    assert params == {
        "segments": 5,
        "segments_per_second": 2.0,
        "words_per_segment": 12,
        "seed": 0,
        "initial_segments": 0,
    }
    assert diarize is False
    for bad in (
        {"segments": 0},
        {"segments": 1.5},
        {"segments": True},
        {"x": 1},
        {"segments_per_second": 0},
        {"diarize": "yes"},
        [],
    ):
        with pytest.raises(BadRequest):
            parse_synthetic(bad)


def test_sanitize_makes_engine_output_db_safe():
    raw = {
        "id": 3,
        "start": float("nan"),
        "end": float("inf"),
        "text": "  hello ",
        "words": [("hi", 0.1, float("-inf"), float("nan")), {"word": "x", "probability": 2}],
        "speaker": 1,
    }
    seg = sanitize_segment(raw, 0)
    assert seg["start"] == 0.0 and seg["end"] == 0.0 and seg["text"] == "hello"
    assert seg["speaker"] == "1"
    assert seg["words"][0] == {"word": "hi", "start": 0.1, "end": 0.1, "probability": 0.0}
    assert seg["words"][1]["probability"] == 1.0
    for w in seg["words"]:
        assert all(math.isfinite(w[k]) for k in ("start", "end", "probability"))
        assert not any(isinstance(v, list) for v in w.values())


def test_synthetic_engine_is_deterministic_and_realistic():
    a = generate(SyntheticParams(segments=50, seed=3))
    assert a == generate(SyntheticParams(segments=50, seed=3))
    assert a != generate(SyntheticParams(segments=50, seed=4))
    starts = [s["start"] for s in a]
    assert starts == sorted(starts)
    assert all(len(s["words"]) == 12 and s["text"] for s in a)


def test_synthetic_fail_after_fails_the_task_after_that_many_segments():
    import threading

    from reference_server.pipeline.engines.base import EngineError, EngineInput
    from reference_server.pipeline.engines.synthetic import SyntheticEngine

    params, _ = parse_synthetic({"segments": 10, "fail_after": 3, "segments_per_second": 1000})
    assert params["fail_after"] == 3
    assert "fail_after" not in parse_synthetic({"segments": 10})[0]
    for bad in ({"fail_after": -1}, {"fail_after": 2.5}, {"fail_after": True}):
        with pytest.raises(BadRequest):
            parse_synthetic(bad)
    emitted: list[int] = []
    inp = EngineInput(
        audio_path=None, duration_s=None, options={"params": SyntheticParams(**params)}
    )
    with pytest.raises(EngineError, match="after 3 segment"):
        SyntheticEngine().transcribe(
            inp, lambda seg, _p: emitted.append(seg["id"]), threading.Event()
        )
    assert emitted == [0, 1, 2]
