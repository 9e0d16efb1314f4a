"""Every committed report, re-rendered, read as a reader reads it: in headless Chromium
(Debian's package; `.ci/setup` installs it) at 1,400 px. Fails on horizontal overflow (a
table or plot running off the page), on a value drawn where the data has none ("nan",
"None" in a cell), and, for the plots, on a panel without axis labels (checked on the
matplotlib figures the HTML embeds). Issue 23's acceptance check.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from profiling.cli import main
from profiling.report import plots

REPO = Path(__file__).resolve().parents[2]


def _committed_reports() -> tuple[str, ...]:
    """Every report folder git tracks (a summary.json under reports/), not local runs."""
    listed = subprocess.run(
        ["git", "ls-files", "reports/*/summary.json"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return tuple(sorted(Path(path).parent.name for path in listed))


REPORTS = _committed_reports()


def test_every_committed_report_is_checked() -> None:
    # An empty listing would parametrize nothing: the four examples must be among them.
    assert {"example", "claims", "sweep-size", "sweep-rate"} <= set(REPORTS)


WIDTH_PX = 1400

# Appended to a copy of the report (the report itself has no script): lists what runs off
# the page into a <pre> that --dump-dom prints.
_PROBE = """<script>
window.addEventListener("load", function () {
  var w = document.documentElement.clientWidth, out = [];
  if (document.documentElement.scrollWidth > w)
    out.push("page " + document.documentElement.scrollWidth + " > " + w);
  document.querySelectorAll("table, img, pre, figure, p, ul").forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.right > w + 0.5)
      out.push(e.tagName + " right edge " + Math.round(r.right) + " > " + w + ": "
               + (e.innerText || e.alt || "").slice(0, 80));
  });
  var p = document.createElement("pre");
  p.id = "memdiag-probe";
  p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    pytest.fail("headless Chromium is missing: run .ci/setup as root (apt-get install chromium)")


def _overflow(html_path: Path, tmp_path: Path) -> list[str]:
    probe = tmp_path / f"probe-{html_path.parent.name}.html"
    probe.write_text(html_path.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    dom = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={WIDTH_PX},1000", "--virtual-time-budget=5000",
         "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    found = re.search(r'<pre id="memdiag-probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, f"Chromium printed no probe result for {html_path}: {dom.stderr[-500:]}"
    text = found.group(1).replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")
    result: list[str] = json.loads(text)
    return result


def _collect_figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every matplotlib figure the report draws from here on, as it is drawn."""
    from profiling.report import claims_plot, sweep_plot

    figures: list[Figure] = []
    real_png = plots._png

    def keep(fig: Figure) -> str:
        figures.append(fig)
        return real_png(fig)

    # Each module that draws holds its own name for `_png`.
    for module in (plots, sweep_plot, claims_plot):
        monkeypatch.setattr(module, "_png", keep)
    return figures


def _unlabelled_panels(figures: list[Figure]) -> list[str]:
    missing = []
    for fig in figures:
        title = fig.axes[0].get_title() or repr(fig)
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            if not (ax.get_xlabel() or ax.get_xticklabels()):
                missing.append(f"no x axis label: {title}")
            if not ax.get_ylabel():
                missing.append(f"a panel without a y axis label in {title}")
    return missing


@pytest.mark.slow
@pytest.mark.parametrize("name", REPORTS)
def test_committed_report_reads_cleanly_at_1400_px(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / name
    figures = _collect_figures(monkeypatch)
    assert main(["report", str(REPO / "reports" / name), "-o", str(out)]) in (0, 3)
    # Every plot panel has its axes labelled (checked on the figures the HTML embeds).
    assert figures
    assert _unlabelled_panels(figures) == []
    html = out / "report.html"
    assert _overflow(html, tmp_path) == []
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html.read_text(encoding="utf-8"))
    drawn = [c for c in cells if re.search(r"\b(nan|None|inf)\b", c)]
    assert drawn == [], f"values drawn where the data has none: {drawn[:5]}"
    md_cells = [
        cell.strip()
        for line in (out / "report.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("|")
        for cell in line.split("|")
    ]
    assert not [c for c in md_cells if re.search(r"\b(nan|None|inf)\b", c)]


def test_an_unlabelled_panel_is_named() -> None:
    fig = Figure()
    labelled, bare = fig.subplots(1, 2)
    labelled.set(title="RSS", xlabel="s", ylabel="MiB")
    bare.set_xticks([])
    assert _unlabelled_panels([fig]) == [
        "no x axis label: RSS",
        "a panel without a y axis label in RSS",
    ]
