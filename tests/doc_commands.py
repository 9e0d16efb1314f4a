"""The `memdiag ...` commands the README and the docs pages show, with their markers.

Shared by tests/unit/test_docs.py (every command parses) and
tests/e2e/test_docs_commands_run.py (every command runs as written, or is marked). A
command line in a shell block says in its trailing comment when it cannot run as a test
would run it:

    memdiag compare --repeat 4 -o run            # long: about 14 min
    memdiag serve --mongo-uri URI                # the reference server; needs: a MongoDB URI

`long: DURATION` (it starts servers and load: minutes of work) and `needs: WHAT` (a
placeholder such as URI, PORT or `...`, or the reader's own app) come last in the comment
or after a description and `;`. A marker covers every command of its line, so
`memdiag ablate --quick -o abl && memdiag gate abl ...   # long: about 2 min` marks the
line; its gate still runs in the e2e test, which runs every command it can prepare.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELL_LANGS = ("", "sh", "bash", "console")
MARKER = re.compile(r"(?:^|;)\s*(long|needs):\s*([^;]*?)\s*(?=;|$)")
SEPARATORS = ("&&", "||", ";", "&", "|")


@dataclass(frozen=True, slots=True)
class DocCommand:
    """One `memdiag ...` command of a page, as shlex would join it, and its line's markers."""

    page: str
    command: str
    long: str | None = None
    needs: str | None = None

    @property
    def marked(self) -> bool:
        return self.long is not None or self.needs is not None


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's code and its comment (the text after the first unquoted `#` that
    starts a word), without the `#`."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1 :]
    return line, ""


def markers(comment: str) -> dict[str, str]:
    """`long` and `needs` from a line's comment; a second `#` reads as another `;`."""
    return {key: text for key, text in MARKER.findall(comment.replace("#", ";"))}


def page_commands(page: str, text: str) -> list[DocCommand]:
    """The `memdiag ...` commands in the page's shell code blocks, one per command.

    Continuation lines are joined, and `cmd && cmd` split; each command keeps the markers
    of its line's comment.
    """
    found: list[DocCommand] = []
    for lang, block in FENCE.findall(text):
        if lang not in SHELL_LANGS:
            continue
        for line in block.replace("\\\n", " ").splitlines():
            code, comment = split_comment(line)
            marks = markers(comment)
            command: list[str] = []
            for word in [*shlex.split(code), "&&"]:
                if word not in SEPARATORS:
                    command.append(word)
                    continue
                if command and command[0] == "memdiag":
                    found.append(DocCommand(page, shlex.join(command), **marks))
                command = []
    return found


def shell_commands(text: str) -> list[str]:
    """The commands alone, in page order."""
    return [c.command for c in page_commands("", text)]


def all_commands() -> list[DocCommand]:
    return [c for page in PAGES for c in page_commands(page.name, page.read_text())]
