"""The one JSON writer: atomic, sorted, indented, versioned."""

from __future__ import annotations

import json
from pathlib import Path

from profiling.artefacts import dumps, write_json, write_text


def test_a_json_file_is_sorted_indented_and_versioned(tmp_path: Path) -> None:
    path = write_json(tmp_path / "sub" / "processes.json", {"server": 12, "db": None})
    text = path.read_text(encoding="utf-8")
    assert text == '{\n  "db": null,\n  "schema_version": 1,\n  "server": 12\n}\n'
    assert text == dumps(json.loads(text))
    assert [p.name for p in path.parent.iterdir()] == ["processes.json"]  # no temp file left


def test_a_document_keeps_its_own_schema_version(tmp_path: Path) -> None:
    path = write_json(tmp_path / "cache.json", {"schema_version": 4, "runs": []})
    assert json.loads(path.read_text())["schema_version"] == 4
    path = write_json(tmp_path / "other.json", {"runs": []}, schema_version=2)
    assert json.loads(path.read_text())["schema_version"] == 2


def test_a_rewrite_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "steady.json"
    write_text(path, "x" * 1000)
    write_json(path, {"stop_at_s": 2.5})
    assert json.loads(path.read_text()) == {"schema_version": 1, "stop_at_s": 2.5}
    assert dumps({"name": "±"}) == '{\n  "name": "±"\n}\n'
