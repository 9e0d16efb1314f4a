"""Compare measured runs: medians per configuration and a verdict per metric and pair.

`compare(runs) -> Comparison` is pure. Runs are grouped by configuration label in
the order they first appear; the first configuration is the baseline of the report's
tables, and verdicts are computed for every pair. Attribution runs (tracemalloc or
memray attached) are kept for their allocation sites but never enter the medians:
profilers cost time and tens of MiB. In a sweep, the tables use the points at the
sweep's last value and `Comparison.sweep` carries every point for the scaling charts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from profiling.numbers import fixed_text, signed
from profiling.results.folder import MIB, RunResult, Scenario, WorkFigures
from profiling.results.validate import Scalar
from profiling.verdict.comparable import (
    DbBound,
    NotComparable,
    config_db_bound,
    median_work,
    missed_target,
    not_stationary,
    work_differences,
)
from profiling.verdict.served import run_problems, run_valid, served_rate
from profiling.verdict.stats import DEFAULT_ALPHA, EffectFloor, Verdict, median, verdict


@dataclass(frozen=True, slots=True)
class Metric:
    """A figure that gets a row in the report and a verdict (lower is always better)."""

    key: str
    title: str
    unit: str  # "bytes" is shown as MiB
    floor: EffectFloor
    extract: Callable[[RunResult], float | None]
    difference_unit: str | None = None  # metrics with no meaningful ratio

    def format(self, value: float | None) -> str:
        """The value with fixed decimals (`profiling.numbers.fixed_text`): "420.1 MiB"."""
        return fixed_text(self.unit, value)

    def format_delta(self, value: float) -> str:
        """A difference with its sign: "+12.3 MiB"."""
        return signed(self.format, value)


def _memory(process: str, attr: str) -> Callable[[RunResult], float | None]:
    def extract(run: RunResult) -> float | None:
        memory = run.memory.get(process)
        value = getattr(memory, attr) if memory is not None else None
        return None if value is None else float(value)

    return extract


def _status(attr: str) -> Callable[[RunResult], float | None]:
    def extract(run: RunResult) -> float | None:
        status = run.status
        return None if status is None else float(getattr(status, attr))

    return extract


def _db(attr: str) -> Callable[[RunResult], float | None]:
    def extract(run: RunResult) -> float | None:
        value = getattr(run.db, attr) if run.db is not None else None
        return None if value is None else float(value)

    return extract


def _in_flight(attr: str) -> Callable[[RunResult], float | None]:
    def extract(run: RunResult) -> float | None:
        found = run.status_in_flight
        return None if found is None else float(getattr(found, attr))

    return extract


_RSS = EffectFloor(relative=0.05, absolute=5 * MIB)
_LATENCY = EffectFloor(relative=0.10, absolute=1.0)

METRICS: tuple[Metric, ...] = (
    Metric("peak_rss_bytes", "Peak RSS (server, kernel high-water mark)", "bytes", _RSS,
           _memory("server", "kernel_peak_bytes")),
    Metric("sampled_peak_rss_bytes", "Peak RSS (server, sampled)", "bytes", _RSS,
           _memory("server", "sampled_peak_bytes")),
    Metric("median_rss_bytes", "Median RSS (server)", "bytes", _RSS,
           _memory("server", "median_bytes")),
    Metric("rss_growth_mib_per_min", "RSS growth (server, steady phase)", "MiB/min",
           EffectFloor(relative=0.0, absolute=1.0), _memory("server", "growth_mib_per_min"),
           difference_unit="MiB/min"),
    Metric("server_cpu_percent", "Server CPU (% of one core)", "%",
           EffectFloor(relative=0.10, absolute=2.0), _memory("server", "cpu_percent")),
    Metric("db_peak_rss_bytes", "Peak RSS (DB process, kernel high-water mark)", "bytes", _RSS,
           _memory("db", "kernel_peak_bytes")),
    Metric("db_cpu_percent", "DB process CPU (% of one core)", "%",
           EffectFloor(relative=0.10, absolute=2.0), _memory("db", "cpu_percent")),
    Metric("status_p50_ms", "Status poll latency p50", "ms", _LATENCY, _status("p50_ms")),
    Metric("status_p99_ms", "Status poll latency p99", "ms", _LATENCY, _status("p99_ms")),
    Metric("error_rate", "Error rate (all requests)", "ratio",
           EffectFloor(relative=0.0, absolute=0.001), lambda r: r.error_rate),
    Metric("db_reads_per_poll", "DB reads per status poll (status path)", "",
           EffectFloor(relative=0.05, absolute=0.05), _db("reads_per_poll")),
    Metric("db_commands_per_poll", "DB commands per status poll (all traffic)", "",
           EffectFloor(relative=0.05, absolute=0.05), _db("commands_per_poll")),
    Metric("db_reply_bytes_per_poll", "DB reply bytes per status poll (status path)", "bytes",
           EffectFloor(relative=0.05, absolute=1024.0), _db("reply_bytes_per_poll")),
    Metric("db_reply_bytes_per_s", "DB bytes decoded per second (all traffic)", "bytes/s",
           EffectFloor(relative=0.05, absolute=64 * 1024.0), _db("reply_bytes_per_s")),
    Metric("status_in_flight_max", "Status requests in flight (steady max, bucket bound)",
           "requests", EffectFloor(relative=0.10, absolute=1.0), _in_flight("max_in_flight")),
    Metric("status_in_flight_mean", "Status requests in flight (steady mean)", "requests",
           EffectFloor(relative=0.10, absolute=0.5), _in_flight("mean_in_flight")),
    Metric("loop_lag_p99_ms", "Event-loop lag p99", "ms", _LATENCY, lambda r: r.loop_lag_p99_ms),
)  # fmt: skip
METRICS_BY_KEY = {m.key: m for m in METRICS}
# The figures summary.json guarantees for scripts, per configuration.
HEADLINE = ("peak_rss_bytes", "rss_growth_mib_per_min", "status_p99_ms", "db_reads_per_poll",
            "error_rate")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConfigResult:
    name: str
    spec: str
    runs: tuple[RunResult, ...]  # measured runs (no profiler), schedule order
    attribution: tuple[RunResult, ...]  # tracemalloc / memray runs
    medians: dict[str, float | None]
    work: WorkFigures | None = None  # medians over the measured runs that recorded work
    db_bound: DbBound | None = None  # the DB set the pace (on the medians), and why

    def values(self, metric: str) -> list[float]:
        extract = METRICS_BY_KEY[metric].extract
        return [v for r in self.runs if (v := extract(r)) is not None]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    configuration: str
    value: Scalar
    runs: int
    medians: dict[str, float | None]
    # The server's mean open connections at this point (median over its runs); None for
    # runs recorded before connections were counted.
    connections_mean: float | None = None
    # Judged against this point's own target: the status polls/s served (median over its
    # runs; None when the work was not recorded) and the runs' problems (served or not).
    served_per_s: float | None = None
    target_per_s: float | None = None
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Sweep:
    param: str
    values: tuple[Scalar, ...]
    points: tuple[SweepPoint, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    configurations: tuple[ConfigResult, ...]
    verdicts: tuple[Verdict, ...]
    scenario: Scenario
    valid: bool
    invalid_reasons: tuple[str, ...]
    scenario_mismatch: tuple[str, ...]  # "params.segments: 3000 vs 5000"
    alpha: float = DEFAULT_ALPHA
    sweep: Sweep | None = None
    runs: tuple[RunResult, ...] = field(default=())  # every run, schedule order
    # Work unlike the baseline's, or not stationary: the differences measure the work too.
    not_comparable: tuple[NotComparable, ...] = ()
    # Attribution runs that failed: reported, but no table's figure comes from them.
    attribution_problems: tuple[str, ...] = ()

    @property
    def comparable(self) -> bool:
        return not self.not_comparable

    def invalid_runs(self, name: str) -> tuple[RunResult, ...]:
        """The configuration's measured runs (the tables' runs) that are not valid."""
        conf = self.config(name)
        return () if conf is None else tuple(r for r in conf.runs if not run_valid(r))

    @property
    def invalid_configurations(self) -> tuple[str, ...]:
        """Configurations with an invalid measured run: never headlined, marked everywhere."""
        return tuple(conf.name for conf in self.configurations if self.invalid_runs(conf.name))

    @property
    def baseline(self) -> ConfigResult:
        return self.configurations[0]

    def config(self, name: str) -> ConfigResult | None:
        return next((c for c in self.configurations if c.name == name), None)

    def verdict(self, metric: str, baseline: str, candidate: str) -> Verdict | None:
        for v in self.verdicts:
            if (v.metric, v.baseline, v.candidate) == (metric, baseline, candidate):
                return v
        return None

    def pair_verdict(self, metric: str, baseline: str, candidate: str) -> Verdict:
        """The verdict for any pair, computed when it is not among the stored ones."""
        found = self.verdict(metric, baseline, candidate)
        if found is not None:
            return found
        base, cand = self.config(baseline), self.config(candidate)
        m = METRICS_BY_KEY[metric]
        return verdict(
            metric,
            baseline,
            candidate,
            base.values(metric) if base else [],
            cand.values(metric) if cand else [],
            m.floor,
            alpha=self.alpha,
            difference_unit=m.difference_unit,
        )


def scenario_differences(a: Scenario, b: Scenario, *, ignore: str | None = None) -> list[str]:
    da, db = a.as_dict(), b.as_dict()
    skip = {ignore, f"params.{ignore}"} if ignore else set()
    return [
        f"{k}: {da.get(k)} vs {db.get(k)}"
        for k in sorted(set(da) | set(db))
        if k not in skip and da.get(k) != db.get(k)
    ]


def _medians(runs: Sequence[RunResult]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for m in METRICS:
        values = [v for r in runs if (v := m.extract(r)) is not None]
        out[m.key] = median(values) if values else None
    return out


def _sweep(runs: Sequence[RunResult], order: list[str]) -> Sweep | None:
    param = next((r.sweep_param for r in runs if r.sweep_param), None)
    if param is None:
        return None
    values: list[Scalar] = []
    for r in runs:
        v = r.sweep_value()
        if v is not None and v not in values:
            values.append(v)
    values.sort(key=lambda v: (isinstance(v, str), v))
    points = []
    for name in order:
        for value in values:
            group = [r for r in runs if r.configuration == name and r.sweep_value() == value]
            if group:
                conns = [
                    r.work.connections_mean
                    for r in group
                    if r.work is not None and r.work.connections_mean is not None
                ]
                served = [x for r in group if (x := served_rate(r)) is not None]
                points.append(
                    SweepPoint(
                        name,
                        value,
                        len(group),
                        _medians(group),
                        round(median(conns), 2) if conns else None,
                        round(median(served), 2) if served else None,
                        group[0].scenario.target_rate_per_s,
                        tuple(f"run {r.repeat}: {p}" for r in group for p in run_problems(r)),
                    )
                )
    return Sweep(param, tuple(values), tuple(points))


def _not_comparable(configs: Sequence[ConfigResult], target_per_s: float) -> list[NotComparable]:
    """Configurations that missed their target poll rate (the baseline too), work unlike
    the baseline's, then every measured run whose tasks kept growing."""
    base = configs[0]
    found = [n for conf in configs if (n := missed_target(conf.name, conf.work, target_per_s))]
    behind = {n.configuration for n in found}
    for conf in configs[1:]:
        found += work_differences(
            base.name,
            base.work,
            conf.name,
            conf.work,
            compare_rate=not {base.name, conf.name} & behind,
        )
    for conf in configs:
        found += [n for r in conf.runs if (n := not_stationary(r)) is not None]
    return found


def _at(run: RunResult) -> str:
    """' at initial_segments=4000' for a sweep's run (every point has its own run 1)."""
    value = run.sweep_value()
    return "" if run.sweep_param is None or value is None else f" at {run.sweep_param}={value}"


def compare(
    runs: Sequence[RunResult], *, name: str = "", alpha: float = DEFAULT_ALPHA
) -> Comparison:
    """Group runs by configuration, take medians, and judge every metric for every pair."""
    if not runs:
        raise ValueError("compare() needs at least one run")
    runs = sorted(runs, key=lambda r: r.order)
    order: list[str] = []
    for r in runs:
        if r.configuration not in order:
            order.append(r.configuration)
    sweep = _sweep([r for r in runs if r.profile == "none"], order)
    table_runs = runs
    if sweep is not None:
        last = sweep.values[-1]
        table_runs = [r for r in runs if r.sweep_value() in (last, None)]
    configs = []
    for conf in order:
        group = [r for r in table_runs if r.configuration == conf]
        measured = tuple(r for r in group if r.profile == "none")
        attribution = tuple(r for r in group if r.profile != "none")
        spec = group[0].spec if group else next(r.spec for r in runs if r.configuration == conf)
        configs.append(
            ConfigResult(
                conf,
                spec,
                measured,
                attribution,
                _medians(measured),
                median_work(measured),
                config_db_bound(measured),
            )
        )
    verdicts = []
    for i, base in enumerate(configs):
        for cand in configs[i + 1 :]:
            for m in METRICS:
                v = verdict(m.key, base.name, cand.name, base.values(m.key), cand.values(m.key),
                            m.floor, alpha=alpha, difference_unit=m.difference_unit)  # fmt: skip
                if v.outcome != "missing":
                    verdicts.append(v)
    # An attribution run's profiler can stall a design (tracemalloc under a full-view
    # poll storm); no headline figure comes from it, so it does not void the comparison.
    table_measured = [r for r in runs if r.profile == "none"] or list(runs)
    reasons = [
        f"{r.configuration} run {r.repeat}{_at(r)}: {reason}"
        for r in table_measured
        for reason in run_problems(r)
    ]
    attribution_problems = [
        f"{r.configuration} {r.profile} run {r.repeat}: {reason}"
        for r in runs
        if r not in table_measured
        for reason in run_problems(r)
    ]
    target = (table_runs or runs)[0].scenario.target_rate_per_s
    mismatch: list[str] = []
    for r in runs[1:]:
        for diff in scenario_differences(runs[0].scenario, r.scenario, ignore=r.sweep_param):
            if diff not in mismatch:
                mismatch.append(diff)
    return Comparison(
        not_comparable=tuple(_not_comparable(configs, target)),
        name=name,
        configurations=tuple(configs),
        verdicts=tuple(verdicts),
        scenario=table_runs[0].scenario if table_runs else runs[0].scenario,
        valid=not reasons,
        invalid_reasons=tuple(reasons),
        attribution_problems=tuple(attribution_problems),
        scenario_mismatch=tuple(mismatch),
        alpha=alpha,
        sweep=sweep,
        runs=tuple(runs),
    )
