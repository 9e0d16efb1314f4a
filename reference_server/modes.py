"""The designs under test, as presets of named switches: one switch per change in the incident.

| switch                    | incident change                          | db-polling | memory-first | lean     |
|---------------------------|------------------------------------------|------------|--------------|----------|
| poll_source               | 1-2: live tasks in a dict, polls read it | db         | memory       | memory   |
| copy_on_merge             | 3: `merged = db_task.copy()`             | true       | false        | false    |
| active_list_limit         | 4: active query limit (newest first)     | 100        | 20           | 20       |
| gc_after_conversion       | 5: `del audio; gc.collect()`             | false      | true         | true     |
| cleanup_at_task_end       | 6: `finally:` pops per-task dicts + gc   | false      | true         | true     |
| list_cleanup              | 7: count_documents, del lists, gc        | false      | true         | false*   |
| orphan_sweep_interval_s   | 8: background orphan sweep (0 = off)     | 0          | 600          | 600      |
| status_view               | lean: poll returns a summary, no segments| full       | full         | summary  |
| json_encoder              | lean: orjson                             | json       | json         | orjson   |
| segment_storage           | lean: chunk documents "<task>:<n>"       | embedded   | embedded     | chunks   |
| checkpoint_interval_s     | progress written to the DB every N s     | 1.0        | -1 (at end)  | 2.0      |
| projections               | lean: DB reads skip segments             | false      | false        | true     |
| malloc_trim               | missed: glibc malloc_trim(0) at task end | false      | false        | false    |
| release_body_after_send   | missed: an idle keep-alive connection    | false      | false        | true     |
|                           | holds its last reply body (aiohttp)      |            |              |          |

*lean counts with count_documents and projects, but runs no gc.collect() on a request
path: `list_cleanup` there would only add the collection.

`malloc_trim` is not in the fix report (a cause it missed): once a task has ended and
been cleaned up, the worker asks glibc to hand its free heap pages back to the OS.

`release_body_after_send` is not in the fix report either: aiohttp's connection loop
(`web_protocol.RequestHandler.start`) keeps its last `Response`, body and all, in a
local while it waits for the next request on a keep-alive connection (up to the 75 s
keep-alive timeout), so every idle connection holds one reply body. With the switch on,
JSON replies are written through a `StreamResponse` from the handler, which keeps no
body once sent (examples/keepalive_body/ shows it with plain aiohttp).

A configuration is a mode plus overrides, written `mode` or `mode:switch=value,...`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

Mode = Literal["db-polling", "memory-first", "lean"]
MODES: tuple[str, ...] = get_args(Mode)


class ConfigError(ValueError):
    """A mode or switch override that does not parse; the message names the fix."""


@dataclass(frozen=True, slots=True)
class Switches:
    poll_source: Literal["db", "memory"]
    copy_on_merge: bool
    active_list_limit: int
    gc_after_conversion: bool
    cleanup_at_task_end: bool
    list_cleanup: bool
    orphan_sweep_interval_s: float
    status_view: Literal["full", "summary"]
    json_encoder: Literal["json", "orjson"]
    segment_storage: Literal["embedded", "chunks"]
    checkpoint_interval_s: float
    projections: bool
    malloc_trim: bool
    release_body_after_send: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, Switches] = {
    "db-polling": Switches(
        poll_source="db",
        copy_on_merge=True,
        active_list_limit=100,
        gc_after_conversion=False,
        cleanup_at_task_end=False,
        list_cleanup=False,
        orphan_sweep_interval_s=0.0,
        status_view="full",
        json_encoder="json",
        segment_storage="embedded",
        checkpoint_interval_s=1.0,
        projections=False,
        malloc_trim=False,
        release_body_after_send=False,
    ),
    "memory-first": Switches(
        poll_source="memory",
        copy_on_merge=False,
        active_list_limit=20,
        gc_after_conversion=True,
        cleanup_at_task_end=True,
        list_cleanup=True,
        orphan_sweep_interval_s=600.0,
        status_view="full",
        json_encoder="json",
        segment_storage="embedded",
        checkpoint_interval_s=-1.0,
        projections=False,
        malloc_trim=False,
        release_body_after_send=False,
    ),
    "lean": Switches(
        poll_source="memory",
        copy_on_merge=False,
        active_list_limit=20,
        gc_after_conversion=True,
        cleanup_at_task_end=True,
        list_cleanup=False,
        orphan_sweep_interval_s=600.0,
        status_view="summary",
        json_encoder="orjson",
        segment_storage="chunks",
        checkpoint_interval_s=2.0,
        projections=True,
        malloc_trim=False,
        release_body_after_send=True,
    ),
}

_FIELDS: dict[str, Any] = get_type_hints(Switches)


def _parse_value(name: str, text: str) -> Any:
    kind = _FIELDS[name]
    if get_origin(kind) is Literal:
        choices = get_args(kind)
        if text not in choices:
            raise ConfigError(f"switch {name} takes one of {', '.join(choices)}, not {text!r}")
        return text
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"switch {name} takes true or false, not {text!r}")
    try:
        return int(text) if kind is int else float(text)
    except ValueError:
        raise ConfigError(f"switch {name} takes a number, not {text!r}") from None


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"override {item!r} is not switch=value")
        if name not in _FIELDS:
            raise ConfigError(f"unknown switch {name!r}; known: {', '.join(_FIELDS)}")
        overrides[name] = _parse_value(name, value.strip())
    return overrides


def resolve(mode: str, overrides: list[str] | tuple[str, ...] = ()) -> Switches:
    if mode not in PRESETS:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return dataclasses.replace(PRESETS[mode], **parse_overrides(overrides))


def parse_configuration(text: str) -> tuple[str, tuple[str, ...]]:
    """`lean:active_list_limit=5,json_encoder=json` -> ("lean", ("active_list_limit=5", ...))."""
    mode, _, rest = text.partition(":")
    items = tuple(p for p in rest.split(",") if p) if rest else ()
    resolve(mode, items)  # validate now, so a typo fails before any run starts
    return mode, items
