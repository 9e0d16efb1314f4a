"""Writing a comparison's files: summary.json, report.md and report.html into a folder.

The one place reports touch the disk (used by `memdiag report`, `diff`, `compare` and
the experiment runner); every file written is announced as `Wrote PATH`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from profiling import artefacts
from profiling.report.claims import (
    render_ablation_html,
    render_ablation_json,
    render_ablation_markdown,
)
from profiling.report.render import render_html, render_json, render_markdown
from profiling.results.folder import SUMMARY_FILE
from profiling.verdict.claims import Ablation
from profiling.verdict.compare import Comparison


def write_text(path: Path, text: str, *, echo: Callable[[str], None] = print) -> Path:
    """Write atomically (`profiling.artefacts`), so a Ctrl-C never leaves half a report."""
    artefacts.write_text(path, text)
    echo(f"Wrote {path}")
    return path


def write_reports(
    comparison: Comparison,
    folder: Path,
    *,
    summary: bool = True,
    html: bool = True,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    written = []
    if summary:
        written.append(write_text(folder / SUMMARY_FILE, render_json(comparison), echo=echo))
    written.append(write_text(folder / "report.md", render_markdown(comparison), echo=echo))
    if html:
        written.append(write_text(folder / "report.html", render_html(comparison), echo=echo))
    return written


def write_ablation_reports(
    ablation: Ablation, folder: Path, *, html: bool = True, echo: Callable[[str], None] = print
) -> list[Path]:
    """An ablation's summary.json (claims and per-scenario summaries), report.md, report.html."""
    written = [write_text(folder / SUMMARY_FILE, render_ablation_json(ablation), echo=echo)]
    written.append(write_text(folder / "report.md", render_ablation_markdown(ablation), echo=echo))
    if html:
        written.append(
            write_text(folder / "report.html", render_ablation_html(ablation), echo=echo)
        )
    return written
