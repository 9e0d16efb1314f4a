"""The README and docs pages: every `memdiag ...` command they show parses, and the
generated switch table covers every switch with each mode's value.

Commands are parsed with the CLI's own parser (nothing runs here; long ones and ones
that need the reader's values too): a renamed option or subcommand fails here instead of
on a reader's machine. tests/e2e/test_docs_commands_run.py runs them; the `# long:` and
`# needs:` markers that excuse a command from running are read in tests/doc_commands.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import shlex
from pathlib import Path
from types import ModuleType

import pytest
from doc_commands import ROOT, all_commands, markers, page_commands, shell_commands, split_comment

from profiling.cli import build_parser
from reference_server.modes import MODES, PRESETS, Switches

COMMANDS = [(c.page, c.command) for c in all_commands()]


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


def test_markers_come_from_the_comment_and_cover_the_line() -> None:
    text = (
        "```sh\nmemdiag measure --mode lean   # one run; --url URL for yours; long: about 1 min\n"
        "memdiag serve --mongo-uri URI   # needs: a MongoDB URI\n"
        "memdiag ablate --quick -o abl && memdiag gate abl   # long: about 2 min\n"
        "memdiag sweep --param rate \\\n    --values 2,5   # 4:08  # long: 4:08 measured\n"
        "memdiag report run   # re-render; not long: just the plots\n```\n"
    )
    got = [(c.command, c.long, c.needs) for c in page_commands("p.md", text)]
    assert got == [
        ("memdiag measure --mode lean", "about 1 min", None),
        ("memdiag serve --mongo-uri URI", None, "a MongoDB URI"),
        ("memdiag ablate --quick -o abl", "about 2 min", None),
        ("memdiag gate abl", "about 2 min", None),
        ("memdiag sweep --param rate --values 2,5", "4:08 measured", None),
        ("memdiag report run", None, None),
    ]


def test_split_comment_skips_quoted_and_mid_word_hashes() -> None:
    assert split_comment("memdiag x --poll 'GET /#a' a#b # c; long: 1 min") == (
        "memdiag x --poll 'GET /#a' a#b ",
        " c; long: 1 min",
    )
    assert markers(" the plan; needs: your app ; long:  3 min ") == {
        "needs": "your app",
        "long": "3 min",
    }


def test_long_commands_say_how_long() -> None:
    # A duration is a number (of minutes, or m:ss): "long: a while" tells a reader nothing.
    vague = [(c.page, c.command, c.long) for c in all_commands() if c.long is not None]
    assert [v for v in vague if not any(ch.isdigit() for ch in v[2])] == []
    assert vague, "no command is marked long: the markers are no longer read"


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
