"""A truncated or hand-edited summary.json: `report`, `diff` and `gate` exit 3 with one
line that names the file and the field, never a traceback or a report of wrong figures."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from profiling.cli import main


@pytest.fixture
def good_summary(fixture_runs: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "three-modes"
    shutil.copytree(fixture_runs / "three-modes", folder)
    assert main(["report", str(folder), "--no-html"]) == 0
    alone = tmp_path / "good"
    alone.mkdir()
    shutil.copy(folder / "summary.json", alone / "summary.json")
    return alone / "summary.json"


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        doc = json.loads(text)
        change(doc)
        return json.dumps(doc)

    return apply


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        if value is ...:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


CORRUPTIONS: dict[str, tuple[Callable[[str], str], str]] = {
    "truncated": (lambda text: text[: len(text) // 2], "not valid JSON"),
    "empty": (lambda text: "", "not valid JSON"),
    "number as text": (
        _edit(_set(["runs", 1, "memory", "server", "final_bytes"], "lots")),
        "field runs[1].memory.server.final_bytes: expected an integer",
    ),
    "field deleted": (
        _edit(_set(["runs", 0, "configuration"], ...)),
        "field runs[0].configuration: expected a value, missing",
    ),
    "runs not a list": (_edit(_set(["runs"], {"a": 1})), "field runs: expected a list"),
    "valid not a boolean": (_edit(_set(["valid"], "yes")), "field valid: expected true or false"),
    "schema from the future": (_edit(_set(["schema_version"], 99)), "schema_version 99"),
    "nan": (
        lambda text: text.replace('"growth_mib_per_min": ', '"growth_mib_per_min": NaN, "x": ', 1),
        "growth_mib_per_min: expected a finite number",
    ),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_report_diff_gate_exit_3_naming_the_field(
    kind: str, good_summary: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt, expected = CORRUPTIONS[kind]
    bad = tmp_path / "bad" / "summary.json"
    bad.parent.mkdir()
    bad.write_text(corrupt(good_summary.read_text()))
    limits = tmp_path / "limits.toml"
    limits.write_text('[configurations."lean"]\npeak_rss_mib = 100000\n')
    commands = {
        "report": ["report", str(bad.parent), "--no-html", "-o", str(tmp_path / "out")],
        "diff A": ["diff", str(bad), str(good_summary)],
        "diff B": ["diff", str(good_summary), str(bad)],
        "gate": ["gate", str(bad), "--config", str(limits)],
        "gate baseline": [
            "gate",
            str(good_summary),
            "--config",
            str(limits),
            "--baseline",
            str(bad),
        ],
    }
    capsys.readouterr()
    for name, argv in commands.items():
        assert main(argv) == 3, name
        err = capsys.readouterr().err.strip()
        assert "\n" not in err, (name, err)
        assert expected in err and str(bad) in err, (name, err)
    assert not (tmp_path / "out").exists(), "report wrote files from a corrupt summary"
