"""The Markdown report of a bisect: every step (commit, subject, medians, verdict, p) and
the final comparison of the first bad commit with the commit before it. Pure."""

from __future__ import annotations

from profiling.numbers import bytes_fixed
from profiling.run.bisecting import BisectOutcome, Step
from profiling.run.sequential import METRICS


def _row(step: Step) -> str:
    cand, base = step.candidate, step.base
    cells = [step.role, f"`{cand.short}`", cand.subject.replace("|", "\\|"), f"`{base.short}`"]
    v = step.verdict
    if v is None:
        cells += ["", "", "", f"skipped: {step.skip_reason.replace('|', '/')}", "", str(step.runs)]
    else:
        ratio = (
            f"{v.interval.estimate:.3f}x [{v.interval.low:.3f}, {v.interval.high:.3f}]"
            if v.interval is not None
            else "n/a"
        )
        cells += [
            bytes_fixed(v.baseline_median),
            bytes_fixed(v.candidate_median),
            ratio,
            f"**{v.verdict}**",
            f"{v.p_value:.3g}",
            f"{step.runs} ({v.n_baseline}/{v.n_candidate} samples)",
        ]
    return "| " + " | ".join(cells) + " |"


def render_bisect(
    outcome: BisectOutcome, *, metric: str, tolerance: float, command: str, wall_s: float
) -> str:
    lines = [
        "# memdiag bisect",
        "",
        f"**{outcome.message}**",
        "",
        f"Metric: {METRICS[metric]}; tolerance ±{tolerance:.0%}; server command `{command}`;"
        f" {outcome.runs} measured runs in {wall_s:.0f} s.",
        "",
        "Each step compares a commit with the good end (the culprit step: with the commit"
        " before it) over interleaved runs; samples cached from earlier steps or bisects"
        " count too. Verdicts: *same* when the 90 % interval of the ratio (Hodges-Lehmann)"
        f" lies inside ±{tolerance:.0%}, *regression* when it lies above 1 and the estimate"
        f" above +{tolerance:.0%}, *unknown* otherwise (the step then counts as skipped).",
        "",
        "| step | commit | subject | against | median (against) | median (commit) | ratio"
        " [90 % interval] | verdict | p (U test) | new runs |",
        "| --- | --- | --- | --- | ---: | ---: | --- | --- | ---: | ---: |",
    ]
    lines += [_row(step) for step in outcome.steps]
    finals = [s for s in outcome.steps if s.role == "culprit"]
    if finals and finals[-1].verdict is not None:
        v = finals[-1].verdict
        lines += [
            "",
            "## Final comparison",
            "",
            f"`{finals[-1].candidate.short}` {finals[-1].candidate.subject} against"
            f" `{finals[-1].base.short}` {finals[-1].base.subject}: **{v.verdict}**,"
            f" {v.reason}, medians {bytes_fixed(v.baseline_median)} ->"
            f" {bytes_fixed(v.candidate_median)}, n={v.n_baseline}/{v.n_candidate},"
            f" p={v.p_value:.3g}.",
        ]
    if outcome.answer is not None and not outcome.answer.exact:
        lines += [
            "",
            "Untested commits hide the first bad one; candidates: "
            + ", ".join(
                f"`{c[:10]}` {outcome.subjects.get(c, '')}" for c in outcome.answer.candidates
            ),
        ]
    return "\n".join(lines) + "\n"
