"""The README and docs pages: every `memdiag ...` command they show parses, and the
generated switch table covers every switch with each mode's value.

Commands are parsed with the CLI's own parser (nothing runs): a renamed option or
subcommand fails here instead of on a reader's machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest

from profiling.cli import build_parser
from reference_server.modes import MODES, PRESETS, Switches

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_commands(text: str) -> list[str]:
    """`memdiag ...` commands in the page's shell code blocks, one per command.

    Continuation lines are joined, comments dropped, and `cmd && cmd` split.
    """
    found: list[str] = []
    for lang, block in FENCE.findall(text):
        if lang not in ("", "sh", "bash", "console"):
            continue
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in [*words, "&&"]:
                if word in ("&&", "||", ";", "&", "|"):
                    if command and command[0] == "memdiag":
                        found.append(shlex.join(command))
                    command = []
                else:
                    command.append(word)
    return found


COMMANDS = [(page.name, cmd) for page in PAGES for cmd in shell_commands(page.read_text())]


def test_pages_show_commands() -> None:
    pages = {name for name, _ in COMMANDS}
    assert {"README.md", "getting-started.md", "findings.md", "ci.md", "server.md"} <= pages


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.mark.parametrize(("page", "command"), COMMANDS)
def test_command_parses(parser: argparse.ArgumentParser, page: str, command: str) -> None:
    argv = shlex.split(command)[1:]
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse's usage error
        pytest.fail(f"{page}: `{command}` does not parse (exit {exc.code})")
    assert not extra or args._passthrough, f"{page}: `{command}`: unknown {extra}"


def test_shell_commands_splits_chains_and_continuations() -> None:
    text = (
        "```sh\nmemdiag compare -o run && memdiag gate run  # a comment\n"
        "memdiag sweep --param rate \\\n    --values 2,5\nls memdiag\n```\n"
        "```python\nmemdiag_measure()\n```\n"
    )
    assert shell_commands(text) == [
        "memdiag compare -o run",
        "memdiag gate run",
        "memdiag sweep --param rate --values 2,5",
    ]


def _gen_switches() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_switches", ROOT / "docs/gen_switches.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_switch_table_has_every_switch_and_value() -> None:
    gen = _gen_switches()
    rows = {
        line.split("|")[1].strip(" `"): [c.strip() for c in line.strip("|").split("|")]
        for line in gen.render().splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == {f.name for f in dataclasses.fields(Switches)}
    lean = MODES.index("lean")
    assert rows["status_view"][2 + lean] == PRESETS["lean"].status_view == "summary"
    assert rows["active_list_limit"][2:5] == [str(PRESETS[m].active_list_limit) for m in MODES]
    assert rows["list_cleanup"][2 + lean] == "false\\*"  # the docstring's footnote


def test_switch_table_replaces_the_marker_on_the_server_page() -> None:
    gen = _gen_switches()
    page = (ROOT / "docs/server.md").read_text()
    assert gen.MARKER in page
    rendered = gen.on_page_markdown(page)
    assert gen.MARKER not in rendered
    assert "| `release_body_after_send` |" in rendered


def test_switch_without_a_docstring_row_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _gen_switches()
    monkeypatch.setattr(gen.modes, "__doc__", "no table here")
    with pytest.raises(ValueError, match="poll_source has no row"):
        gen.render()


def test_test_modules_have_unique_basenames() -> None:
    # tests/ has no __init__.py: pytest imports each test module by its basename, so two
    # files of one name in unit/ and integration/ stop the whole run at collection.
    names = [p.name for p in Path(__file__).resolve().parents[1].rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
