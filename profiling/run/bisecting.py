"""Measuring for `memdiag bisect` and `memdiag check`: commits compared with the three-way
verdict, samples cached per commit, the search walked to the first bad commit.

`Bench.compare(base, candidate)` is one step: it takes the samples both commits already
have in the cache (so a second bisect, or a check after a bisect, measures nothing
again), and while the verdict is unknown it runs one more interleaved pair (base,
candidate) through the ordinary runner, up to `max_runs` of the candidate. A candidate
that cannot be set up, or whose server does not start, is skipped with the reason.

`run_bisect` confirms that the ends differ (else it stops and says so), walks
`profiling.verdict.bisection.Bisection`, and compares the first bad commit with the
commit before it at full power (`final_runs` a side at least).

The sample cache is `<memdiag cache>/samples/<key>.json`, keyed by the commit, the server
command, the setup and the load: a sample measured under other load is never reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from profiling.artefacts import write_json
from profiling.errors import ExitCode, HarnessError, UsageError
from profiling.results.folder import RunResult
from profiling.run.builds import revision_configuration
from profiling.run.launchers import cache_dir
from profiling.run.plans import Job, LoadPlan, Progress, ServerPlan
from profiling.run.revisions import Revision, SetupFailed, git, resolve
from profiling.run.runner import run_schedule
from profiling.run.sequential import METRICS, metric_value
from profiling.run.servers import Configuration
from profiling.verdict.bisection import Answer, Bisection
from profiling.verdict.equivalence import ThreeWay, three_way

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class BisectSettings:
    repo: Path
    server_cmd: str
    setup: str
    health: str
    metric: str
    tolerance: float
    load: LoadPlan
    server: ServerPlan
    repeat: int = 3  # runs a side before the first verdict
    max_runs: int = 8  # runs of a candidate in one step before "unknown" stands
    final_runs: int = 5  # runs a side at least when the culprit is confirmed


@dataclass(frozen=True, slots=True)
class Step:
    role: str  # "ends", "step", "culprit" or "check"
    base: Revision
    candidate: Revision
    verdict: ThreeWay | None  # None: skipped
    runs: int  # runs measured in this step (cached samples not counted)
    skip_reason: str = ""

    @property
    def outcome(self) -> str:
        """For the search: bad (regression), good (same or better), or skip."""
        if self.verdict is None or self.verdict.verdict == "unknown":
            return "skip"
        return "bad" if self.verdict.worse else "good"


@dataclass
class BisectOutcome:
    steps: list[Step] = field(default_factory=list)
    answer: Answer | None = None
    message: str = ""
    exit_code: ExitCode = ExitCode.OK
    runs: int = 0
    subjects: dict[str, str] = field(default_factory=dict)


class SampleCache:
    """Per-commit metric values of valid runs, in a JSON file per (commit, command, load)."""

    def __init__(self, settings: BisectSettings) -> None:
        self.folder = cache_dir() / "samples"
        load = dataclasses.asdict(settings.load.record())
        self.salt = json.dumps(
            {"cmd": settings.server_cmd, "setup": settings.setup, "load": load}, sort_keys=True
        )

    def path(self, commit: str) -> Path:
        key = hashlib.sha256((commit + self.salt).encode()).hexdigest()[:24]
        return self.folder / f"{commit[:12]}-{key}.json"

    def values(self, commit: str) -> list[dict[str, float]]:
        try:
            doc = json.loads(self.path(commit).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        runs = doc.get("runs", []) if isinstance(doc, dict) else []
        return [r for r in runs if isinstance(r, dict)]

    def add(self, commit: str, run: RunResult, run_dir: Path) -> None:
        values = {m: metric_value(run, m) for m in METRICS}
        if any(v is None for v in values.values()):
            return
        record: dict[str, object] = {k: float(v or 0) for k, v in values.items()}
        record["run_dir"] = str(run_dir)
        runs = [*self.values(commit), record]
        doc = {"schema_version": SCHEMA_VERSION, "commit": commit, "runs": runs}
        write_json(self.path(commit), doc, schema_version=SCHEMA_VERSION)


class Bench:
    """Measures commits of one repository under one load, into one output folder."""

    def __init__(
        self, settings: BisectSettings, out: Path, progress: Progress | None = None
    ) -> None:
        self.settings = settings
        self.out = out
        self.progress = progress
        self.cache = SampleCache(settings)
        self.order = 0
        self.runs = 0
        self._configs: dict[str, Configuration | SetupFailed] = {}

    def configuration(self, rev: Revision) -> Configuration:
        """The revision set up (once) as a configuration; SetupFailed if it cannot be."""
        if rev.commit not in self._configs:
            s = self.settings
            try:
                self._configs[rev.commit] = revision_configuration(
                    s.repo, rev, s.server_cmd, s.setup, s.health, rev.short
                )
            except SetupFailed as exc:
                self._configs[rev.commit] = exc
        found = self._configs[rev.commit]
        if isinstance(found, SetupFailed):
            raise found
        return found

    def samples(self, rev: Revision) -> list[float]:
        return [float(v[self.settings.metric]) for v in self.cache.values(rev.commit)]

    def compare(
        self, base: Revision, cand: Revision, role: str, *, min_runs: int | None = None
    ) -> Step:
        s = self.settings
        min_runs = max(min_runs or s.repeat, 3)
        try:
            base_config = self.configuration(base)
        except SetupFailed as exc:
            raise HarnessError(f"the baseline {base.short} cannot be set up: {exc}") from None
        try:
            cand_config = self.configuration(cand)
        except SetupFailed as exc:
            return Step(role, base, cand, None, 0, f"does not build: {exc}")
        runs = 0
        while True:
            a, b = self.samples(base), self.samples(cand)
            verdict = three_way(a, b, s.tolerance) if a and b else None
            if min(len(a), len(b)) >= min_runs and verdict is not None and verdict.decided:
                return Step(role, base, cand, verdict, runs)
            if runs // 2 >= s.max_runs:
                if verdict is None:
                    return Step(role, base, cand, None, runs, "no valid run")
                return Step(role, base, cand, verdict, runs)
            pair = [(base_config, base), (cand_config, cand)]
            if not b:  # a candidate that does not start is found before the base runs
                pair.reverse()
            for config, rev in pair:
                run = self._run(config)
                runs += 1
                if run.valid:
                    self.cache.add(rev.commit, run, self.out / (run.dir or ""))
                elif rev is cand and not self.samples(cand) and _failed_to_start(run):
                    return Step(role, base, cand, None, runs, _reason(run))
                elif rev is base and not run.valid and _failed_to_start(run):
                    raise HarnessError(f"the baseline {base.short} did not start: {_reason(run)}")

    def _run(self, config: Configuration) -> RunResult:
        self.order += 1
        self.runs += 1
        job = Job(config, self.order, self.order, "none", self.settings.load)
        outcome = run_schedule([job], self.out, self.settings.server, progress=self.progress)
        if outcome.interrupted:
            raise KeyboardInterrupt
        if not outcome.runs:
            raise HarnessError(f"{config.label}: no run")
        return outcome.runs[0]


def _failed_to_start(run: RunResult) -> bool:
    return any(r.startswith("the run failed") for r in run.invalid_reasons)


def _reason(run: RunResult) -> str:
    return "; ".join(run.invalid_reasons)[:300]


def commit_range(repo: Path, good: Revision, bad: Revision, first_parent: bool) -> list[str]:
    """good, then every commit on the way to bad (oldest first)."""
    args = ["rev-list", "--reverse", "--ancestry-path"]
    if first_parent:
        args.append("--first-parent")
    after = git(repo, *args, f"{good.commit}..{bad.commit}").split()
    if not after or after[-1] != bad.commit:
        raise UsageError(f"--bad {bad.name} is not a descendant of --good {good.name}")
    return [good.commit, *after]


def run_bisect(
    settings: BisectSettings,
    good_rev: str,
    bad_rev: str,
    out: Path,
    *,
    first_parent: bool = False,
    progress: Progress | None = None,
) -> BisectOutcome:
    repo = settings.repo
    good, bad = resolve(repo, good_rev), resolve(repo, bad_rev)
    commits = commit_range(repo, good, bad, first_parent)
    revs = {c: resolve(repo, c) for c in commits}
    bench = Bench(settings, out, progress)
    result = BisectOutcome(subjects={c: r.subject for c, r in revs.items()})

    def say(step: Step) -> None:
        result.steps.append(step)
        result.runs = bench.runs
        print(step_line(step), file=sys.stderr, flush=True)

    ends = bench.compare(good, bad, "ends")
    say(ends)
    if ends.verdict is None:
        raise HarnessError(f"the bad end {bad.short} cannot be tested: {ends.skip_reason}")
    if not ends.verdict.worse:
        result.message = (
            f"the ends do not differ beyond {settings.tolerance:.0%}: {bad.short} against"
            f" {good.short} is {ends.verdict.verdict} ({ends.verdict.reason}); nothing to bisect"
        )
        result.exit_code = ExitCode.INCONCLUSIVE
        return result
    search = Bisection(commits)
    while (commit := search.next()) is not None:
        step = bench.compare(good, revs[commit], "step")
        say(step)
        search.mark(commit, step.outcome)
    answer = search.answer()
    assert answer is not None
    result.answer = answer
    last_good, first_bad = revs[answer.last_good], revs[answer.first_bad]
    final = bench.compare(last_good, first_bad, "culprit", min_runs=settings.final_runs)
    say(final)
    if not answer.exact:
        names = ", ".join(revs[c].short for c in answer.candidates)
        result.message = (
            f"the first bad commit is one of {names} (commits that could not be tested hide"
            f" which); {first_bad.short} against {last_good.short}: "
            + (final.verdict.verdict if final.verdict else "not measured")
        )
        result.exit_code = ExitCode.INCONCLUSIVE
    elif final.verdict is not None and final.verdict.worse:
        result.message = (
            f"first bad commit: {first_bad.short} {first_bad.subject!r}"
            f" ({final.verdict.reason} against its parent {last_good.short})"
        )
    else:
        verdict = final.verdict.verdict if final.verdict else "not measured"
        result.message = (
            f"{first_bad.short} {first_bad.subject!r} is where the search ended, but against"
            f" its parent {last_good.short} it is {verdict}: the regression may be gradual"
        )
        result.exit_code = ExitCode.INCONCLUSIVE
    result.runs = bench.runs
    return result


def step_line(step: Step) -> str:
    head = f"[{step.role}] {step.candidate.short} {step.candidate.subject!r}"
    if step.verdict is None:
        return f"{head}: skipped ({step.skip_reason})"
    v = step.verdict
    return (
        f"{head} vs {step.base.short}: {v.verdict} ({v.reason}; n={v.n_baseline}/{v.n_candidate},"
        f" {step.runs} new runs)"
    )
