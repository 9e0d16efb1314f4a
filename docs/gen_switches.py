"""The switch table of docs/server.md, generated from reference_server/modes.py.

A MkDocs hook (`hooks:` in mkdocs.yml): every page line that is exactly MARKER becomes
the table, so the docs cannot drift from the code. Values come from `PRESETS`, the
description of each switch and the notes under the table from the module docstring (the
table there is the one the code's readers see). A hook rather than a committed copy
checked by a test: nothing to regenerate by hand, and `mkdocs build --strict` fails
when a switch has no row in the docstring.

python docs/gen_switches.py prints the table.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference_server import modes

MARKER = "<!-- switches: generated from reference_server/modes.py -->"


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def docstring_rows(doc: str) -> tuple[dict[str, str], set[tuple[str, int]], str]:
    """From the docstring: each switch's description, the value cells marked with a
    footnote `*` (switch, column), and the prose after the table."""
    descriptions: dict[str, str] = {}
    starred: set[tuple[str, int]] = set()
    last = ""
    lines = doc.splitlines()
    end = 0
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            if descriptions:
                end = i
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "switch" or (cells[0] and set(cells[0]) <= {"-"}):
            continue
        if cells[0]:
            last = cells[0]
            descriptions[last] = cells[1]
            starred |= {(last, i) for i, cell in enumerate(cells[2:]) if cell.endswith("*")}
        elif last:
            descriptions[last] += " " + cells[1]
    notes = "\n".join(lines[end:]).strip()
    # The docstring's closing sentence is about syntax, which the page tells elsewhere.
    notes = notes.split("\nA configuration is")[0].strip()
    return descriptions, starred, re.sub(r"(?m)^\*", r"\\*", notes)  # a footnote, not emphasis


def render() -> str:
    """The switch table (Markdown) and the docstring's notes on it."""
    descriptions, starred, notes = docstring_rows(modes.__doc__ or "")
    header = ["switch", "change in the incident", *modes.MODES]
    rows = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for field in dataclasses.fields(modes.Switches):
        if field.name not in descriptions:
            raise ValueError(f"switch {field.name} has no row in reference_server/modes.py's table")
        values = [
            _cell(getattr(modes.PRESETS[m], field.name))
            + ("\\*" if (field.name, i) in starred else "")
            for i, m in enumerate(modes.MODES)
        ]
        # Angle brackets would be read as HTML tags ("<task>:<n>").
        described = descriptions[field.name].replace("<", "&lt;").replace(">", "&gt;")
        rows.append("| " + " | ".join([f"`{field.name}`", described, *values]) + " |")
    return "\n".join(rows) + "\n\n" + notes + "\n"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: put the table where the marker stands."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


if __name__ == "__main__":
    print(render())
