"""The one way memdiag writes a file it leaves behind: atomically, and JSON always alike.

`write_text` writes through a temporary file and a rename, so a Ctrl-C or a reader
polling for the file never sees half of it. `dumps` is every JSON file's text (sorted
keys, indented, a trailing newline); `write_json` writes one, with a `schema_version`
unless the document carries its own. Not a stage of the data flow: probes, runs,
results and reports all write through here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def dumps(document: Mapping[str, Any]) -> str:
    """Every JSON file memdiag writes: sorted keys, indented, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_text(path: Path, text: str) -> Path:
    """Write via a temporary file beside `path` and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_json(
    path: Path, document: Mapping[str, Any], *, schema_version: int = SCHEMA_VERSION
) -> Path:
    """`document` as `dumps` writes it, with `schema_version` unless it has one."""
    return write_text(path, dumps({"schema_version": schema_version, **document}))
