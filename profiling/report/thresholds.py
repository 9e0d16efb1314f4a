"""The gate's thresholds as a k6-style block: one line per limit, pass or fail, with the
measured value beside it, so a CI owner sees at a glance which limit broke (pure).

k6 prints `✓ http_req_duration ... p(95)<500`; a pull request's comment gets the same
shape in a fenced block, so the columns line up in any Markdown renderer.
"""

from __future__ import annotations

from collections.abc import Sequence

from profiling.verdict.gate import Check

MARKS = {"passed": "✓", "failed": "✗", "inconclusive": "?", "skipped": "-", "not comparable": "≠"}


def thresholds_block(checks: Sequence[Check]) -> str:
    """```thresholds ... ``` with '✓ lean peak_rss_mib <= 200 .... 73.3 MiB'; '' with none."""
    if not checks:
        return ""
    width = max(len(c.name) for c in checks) + 2
    lines = ["thresholds"]
    for c in checks:
        mark = MARKS.get(c.status, "?")
        lines.append(f"  {mark} {c.name.ljust(width, '.')} {c.actual}  ({c.status}: {c.why})")
    passed = sum(c.status == "passed" for c in checks)
    lines.append(f"  {passed} of {len(checks)} passed")
    return "```\n" + "\n".join(lines) + "\n```"
