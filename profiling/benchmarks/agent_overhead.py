"""What memdiag's in-process memory agent costs the server: CPU and peak RSS with and
without it, measured interleaved (with, without, with, without) to cancel drift.

python -m profiling.benchmarks.agent_overhead [--mode memory-first] [--pairs 2]
    [--duration 20] [--warmup 10] [--out DIR] [-- extra memdiag measure arguments]

Each run is a real `memdiag measure` (the reference server, the embedded DB, Locust),
one with the agent (the default) and one with `--no-agent`. It prints one line per run
and the ratios of the medians: server CPU (% of one core) and kernel peak RSS with the
agent over without, and the agent thread's own CPU as it measured it. On a shared
machine the run-to-run spread can exceed the agent's cost; the per-run lines show it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from profiling.results.folder import MIB, RunResult, load_runs


@dataclass(frozen=True, slots=True)
class Measured:
    agent: bool
    cpu_percent: float | None  # the server's, % of one core, steady phase
    peak_rss_bytes: int | None  # VmHWM over the steady phase
    agent_cpu_percent: float | None  # the agent thread's own CPU (with the agent only)
    valid: bool


@dataclass(frozen=True, slots=True)
class Overhead:
    cpu_ratio: float | None  # median server CPU with / without the agent
    rss_ratio: float | None  # median peak RSS with / without
    agent_cpu_percent: float | None  # median of the agent's own CPU


def measured(run: RunResult, agent: bool) -> Measured:
    server = run.memory.get("server")
    return Measured(
        agent=agent,
        cpu_percent=server.cpu_percent if server else None,
        peak_rss_bytes=server.kernel_peak_bytes if server else None,
        agent_cpu_percent=run.rss_parts.agent_cpu_percent if run.rss_parts else None,
        valid=run.valid,
    )


def _ratio(runs: list[Measured], get: str) -> float | None:
    def med(agent: bool) -> float | None:
        values = [v for r in runs if r.agent is agent and (v := getattr(r, get)) is not None]
        return statistics.median(values) if values else None

    with_, without = med(True), med(False)
    return None if with_ is None or not without else with_ / without


def overhead(runs: list[Measured]) -> Overhead:
    """The ratios of the medians (pure); invalid runs count too, the lines say which."""
    own = [r.agent_cpu_percent for r in runs if r.agent_cpu_percent is not None]
    return Overhead(
        cpu_ratio=_ratio(runs, "cpu_percent"),
        rss_ratio=_ratio(runs, "peak_rss_bytes"),
        agent_cpu_percent=statistics.median(own) if own else None,
    )


def _measure(out: Path, agent: bool, args: argparse.Namespace, extra: list[str]) -> Measured:
    argv = [sys.executable, "-m", "profiling", "measure", "--mode", args.mode, "--no-html"]
    argv += ["--duration", str(args.duration), "--warmup", str(args.warmup), "-o", str(out)]
    argv += [] if agent else ["--no-agent"]
    subprocess.run([*argv, *extra], check=False, stdout=subprocess.DEVNULL)
    runs = load_runs(out)
    if not runs:
        raise SystemExit(f"no run in {out}; see the command's output above")
    return measured(runs[0], agent)


def _line(i: int, m: Measured) -> str:
    cpu = "n/a" if m.cpu_percent is None else f"{m.cpu_percent:.1f} %"
    rss = "n/a" if m.peak_rss_bytes is None else f"{m.peak_rss_bytes / MIB:.1f} MiB"
    own = "" if m.agent_cpu_percent is None else f", agent thread {m.agent_cpu_percent:.2f} %"
    valid = "" if m.valid else " (invalid run)"
    return (
        f"{i:2d} {'with   ' if m.agent else 'without'} agent: CPU {cpu}, peak RSS {rss}{own}{valid}"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mode", default="memory-first")
    p.add_argument("--pairs", type=int, default=2, help="with/without pairs (default 2)")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--out", type=Path, help="keep the run folders here (default: a temp dir)")
    args = p.parse_args(argv)
    if args.pairs < 1:
        p.error("--pairs must be >= 1")
    root = args.out or Path(tempfile.mkdtemp(prefix="memdiag-agent-overhead-"))
    runs: list[Measured] = []
    for i in range(args.pairs * 2):
        agent = i % 2 == 0
        m = _measure(root / f"{i + 1:02d}-{'agent' if agent else 'no-agent'}", agent, args, extra)
        runs.append(m)
        print(_line(i + 1, m), flush=True)
    o = overhead(runs)
    cpu = "n/a" if o.cpu_ratio is None else f"{o.cpu_ratio:.3f}x"
    rss = "n/a" if o.rss_ratio is None else f"{o.rss_ratio:.3f}x"
    own = "n/a" if o.agent_cpu_percent is None else f"{o.agent_cpu_percent:.2f} % of one core"
    print(f"with/without agent, medians: server CPU {cpu}, peak RSS {rss}; agent thread {own}")
    print(f"run folders: {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
