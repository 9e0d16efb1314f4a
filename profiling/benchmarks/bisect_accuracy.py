"""How well `memdiag bisect` finds a memory regression, against `git bisect run` with one
measurement per step, and how A/A comparisons come out.

    python -m profiling.benchmarks.bisect_accuracy [--commits 16] [--tries 5] [--aa 5]

On a fresh repository from `regression_repo` (a 1.5x per-request regression, a commit that
does not start, a comment-only commit), with a fresh cache:

1. `memdiag bisect --good FIRST --bad LAST`: wall time, measured runs, right or wrong;
2. `--tries` times `git bisect run` of a script that measures the commit once and the
   good end once (`memdiag compare --rev HEAD --rev GOOD --repeat 1`) and calls it bad when
   its peak RSS is more than the tolerance above the good end's (125 when it cannot be
   measured): how often its first bad commit is wrong;
3. `--aa` times `memdiag compare --rev LAST --rev LAST --tolerance 5%`: the verdicts.

Load: url-poll of GET /work at --rate for --duration s after --warmup s. Prints a
Markdown table; each figure says how it was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from profiling.benchmarks.regression_repo import SERVER_CMD, make_repo

STEP_SCRIPT = """#!/bin/sh
# One measurement of HEAD and one of the good end; bad when HEAD's peak RSS is higher by
# more than the tolerance. What a user's hand-written `git bisect run` script does.
out=$(mktemp -d)
{python} -m profiling compare --repo . --rev HEAD --rev {good} --server-cmd '{cmd}' \\
    --setup true --poll 'GET /work' --repeat 1 {load} -o "$out/r" >/dev/null 2>&1
exec {python} -m profiling.benchmarks.bisect_accuracy --judge "$out/r/summary.json" \\
    --tolerance {tolerance}
"""


def judge(summary: Path, tolerance: float) -> int:
    """git bisect run's code from a one-run compare: 0 good, 1 bad, 125 cannot test."""
    try:
        configs = json.loads(summary.read_text())["configurations"]
    except (OSError, ValueError, KeyError):
        return 125
    head = next((c for k, c in configs.items() if k == "HEAD"), None)
    good = next((c for k, c in configs.items() if k != "HEAD"), None)
    if not head or not good or not head.get("valid") or not good.get("valid"):
        return 125
    if not head.get("peak_rss_bytes") or not good.get("peak_rss_bytes"):
        return 125
    return 1 if head["peak_rss_bytes"] > good["peak_rss_bytes"] * (1 + tolerance) else 0


def _memdiag(args: Sequence[str], env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "profiling", *args], capture_output=True, text=True, env=env
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commits", type=int, default=16)
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--aa", type=int, default=5)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument(
        "--noise-mib", type=int, default=0, help="run-to-run noise of the app (random ballast)"
    )
    parser.add_argument("--judge", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.judge is not None:
        return judge(args.judge, args.tolerance)
    load = (
        f"--warmup {args.warmup:g} --duration {args.duration:g} --cooldown 0 "
        f"--rate {args.rate:g} --no-html"
    )
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="memdiag-bisect-bench-") as tmp_:
        tmp = Path(tmp_)
        env = {**os.environ, "MEMDIAG_CACHE_DIR": str(tmp / "cache")}
        repo = make_repo(tmp / "repo", args.commits, noise_mib=args.noise_mib)
        common = ["--repo", str(repo.path), "--server-cmd", SERVER_CMD, "--setup", "true"]
        common += ["--tolerance", f"{100 * args.tolerance:g}%"]
        common += ["--poll", "GET /work", *load.split()]
        # 1. memdiag bisect
        code, text, wall_s = _memdiag(
            ["bisect", "--good", repo.good, "--bad", repo.bad, *common, "-o", str(tmp / "b")],
            env,
        )
        report = (
            (tmp / "b" / "bisect.md").read_text() if (tmp / "b" / "bisect.md").is_file() else ""
        )
        runs = (
            sum(1 for _ in (tmp / "b" / "runs").iterdir()) if (tmp / "b" / "runs").is_dir() else 0
        )
        right = f"first bad commit: {repo.culprit[:10]}" in text
        rows.append(
            f"| memdiag bisect | 1 | {'right' if right else 'WRONG'} (exit {code}) |"
            f" {wall_s:.0f} s | {runs} |"
        )
        print(report, file=sys.stderr)
        # 2. git bisect run, one measurement per step
        wrong = 0
        walls, counts = [], []
        for n in range(args.tries):
            clone = tmp / f"clone{n}"
            subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
            script = clone.parent / f"step{n}.sh"
            script.write_text(
                STEP_SCRIPT.format(
                    python=sys.executable,
                    good=repo.good,
                    cmd=SERVER_CMD,
                    load=load,
                    tolerance=args.tolerance,
                )
            )
            script.chmod(0o755)
            started = time.monotonic()
            git = ["git", "-C", str(clone)]
            subprocess.run([*git, "bisect", "start", repo.bad, repo.good], check=True,
                           capture_output=True, env=env)  # fmt: skip
            proc = subprocess.run([*git, "bisect", "run", str(script)], capture_output=True,
                                  text=True, env={**env, "PYTHONPATH": os.getcwd()})  # fmt: skip
            walls.append(time.monotonic() - started)
            counts.append(proc.stdout.count("running"))
            found = f"{repo.culprit} is the first bad commit" in proc.stdout
            wrong += not found
            subprocess.run([*git, "bisect", "reset"], capture_output=True)
        rows.append(
            f"| git bisect run, 1 run of HEAD + 1 of good per step | {args.tries} |"
            f" wrong {wrong} of {args.tries} | {sum(walls) / max(1, len(walls)):.0f} s each |"
            f" {2 * sum(counts) / max(1, len(counts)):.0f} each |"
        )
        # 3. A/A
        verdicts = []
        for n in range(args.aa):
            code, text, _ = _memdiag(
                ["compare", "--rev", repo.bad, "--rev", repo.bad, *common,
                 "-o", str(tmp / f"aa{n}")],
                env,
            )  # fmt: skip
            verdict = next(
                (w for w in ("REGRESSION", "SAME", "UNKNOWN", "IMPROVEMENT") if w in text), "none"
            )
            verdicts.append(f"{verdict.lower()} (exit {code})")
        rows.append(f"| A/A, same revision twice | {args.aa} | {', '.join(verdicts)} | | |")
    print("| what | tries | outcome | wall time | measured runs |")
    print("| --- | ---: | --- | ---: | ---: |")
    print("\n".join(rows))
    print(
        f"\n{args.commits} commits, 1.5x per-request regression, noise up to"
        f" {args.noise_mib} MiB, tolerance {args.tolerance:.0%}; load: url-poll GET /work at"
        f" {args.rate:g}/s, {args.warmup:g} s warm-up, {args.duration:g} s steady;"
        f" host load at the end {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
