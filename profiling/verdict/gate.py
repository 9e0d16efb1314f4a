"""The CI gate: thresholds from TOML, checked against a comparison (pure).

Thresholds live in `[tool.memdiag.gate]` of pyproject.toml, or in a TOML file with the
same content at its top level::

    max_peak_rss_increase_pct = 10          # against --baseline, every configuration

    [configurations."db-polling"]
    peak_rss_mib = 600
    rss_growth_mib_per_min = 5
    status_p99_ms = 250
    error_rate = 0.01
    db_reads_per_poll = 1.5
    max_peak_rss_increase_pct = 20          # overrides the global one here

    [[improvements]]                        # the fix must keep fixing
    better = "memory-first"
    than = "db-polling"
    metric = "peak_rss_bytes"
    ratio = 0.8                             # better's median <= 0.8 x than's
    significant = true                      # and the U test must say so (needs repeats)

`load_limits` validates and names the file and key on a mistake; `check(comparison,
limits, baseline)` returns one `Check` per threshold; `exit_code(checks, comparison)`
maps them to 0 pass, 1 failed, 3 invalid run or work not comparable, 4 inconclusive.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiling.errors import ExitCode, UsageError
from profiling.numbers import fixed, plain, ratio_text, signed_pct
from profiling.results.folder import MIB
from profiling.verdict.comparable import median_work, work_differences
from profiling.verdict.compare import METRICS_BY_KEY, Comparison

# Absolute limit key -> (metric key, factor from the limit's unit to the metric's unit).
ABSOLUTE: dict[str, tuple[str, float]] = {
    "peak_rss_mib": ("peak_rss_bytes", float(MIB)),
    "rss_growth_mib_per_min": ("rss_growth_mib_per_min", 1.0),
    "status_p99_ms": ("status_p99_ms", 1.0),
    "error_rate": ("error_rate", 1.0),
    "db_reads_per_poll": ("db_reads_per_poll", 1.0),
}
_INCREASE = "max_peak_rss_increase_pct"
# A baseline check whose configuration did other work than the baseline's (task size,
# polls served, open connections): exit 3, as unequal work within one comparison is.
NOT_COMPARABLE = "not comparable"


@dataclass(frozen=True, slots=True)
class Improvement:
    better: str
    than: str
    metric: str
    ratio: float
    significant: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    source: str
    absolute: dict[str, dict[str, float]] = field(default_factory=dict)  # config -> key -> limit
    max_peak_rss_increase_pct: float | None = None
    increase_by_config: dict[str, float] = field(default_factory=dict)
    improvements: tuple[Improvement, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.absolute or self.improvements or self.increase_by_config) and (
            self.max_peak_rss_increase_pct is None
        )


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # "db-polling peak_rss_mib <= 600"
    status: str  # "passed", "failed", "inconclusive", "skipped", "not comparable"
    actual: str
    why: str


def _number(where: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{where}: {key} = {value!r} is not a number; write e.g. {key} = 10")
    return float(value)


def parse_limits(table: dict[str, Any], source: str) -> Limits:
    """Validate a gate table (the content of [tool.memdiag.gate])."""
    known = {"configurations", "improvements", _INCREASE}
    for key in table:
        if key not in known:
            raise UsageError(f"{source}: unknown gate key {key!r}; use one of {sorted(known)}")
    absolute: dict[str, dict[str, float]] = {}
    by_config: dict[str, float] = {}
    configurations = table.get("configurations", {})
    if not isinstance(configurations, dict):
        raise UsageError(f"{source}: configurations must be a table of tables")
    for conf, limits in configurations.items():
        where = f'{source}: [configurations."{conf}"]'
        if not isinstance(limits, dict):
            raise UsageError(f"{where} must be a table, e.g. peak_rss_mib = 500")
        for key, value in limits.items():
            if key == _INCREASE:
                by_config[conf] = _number(where, key, value)
            elif key in ABSOLUTE:
                absolute.setdefault(conf, {})[key] = _number(where, key, value)
            else:
                allowed = sorted([*ABSOLUTE, _INCREASE])
                raise UsageError(f"{where}: unknown limit {key!r}; use one of {allowed}")
    improvements = []
    raw = table.get("improvements", [])
    if not isinstance(raw, list):
        raise UsageError(f"{source}: write improvements as [[improvements]] tables")
    for i, item in enumerate(raw):
        where = f"{source}: improvements[{i}]"
        if not isinstance(item, dict):
            raise UsageError(f"{where} must be a table with better, than, metric, ratio")
        missing = {"better", "than", "metric", "ratio"} - set(item)
        if missing:
            raise UsageError(f"{where}: missing {', '.join(sorted(missing))}")
        extra = set(item) - {"better", "than", "metric", "ratio", "significant"}
        if extra:
            raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
        if item["metric"] not in METRICS_BY_KEY:
            raise UsageError(
                f"{where}: unknown metric {item['metric']!r}; use one of {sorted(METRICS_BY_KEY)}"
            )
        significant = item.get("significant", False)
        if not isinstance(significant, bool):
            raise UsageError(f"{where}: significant must be true or false")
        improvements.append(
            Improvement(
                str(item["better"]),
                str(item["than"]),
                str(item["metric"]),
                _number(where, "ratio", item["ratio"]),
                significant,
            )
        )
    increase = table.get(_INCREASE)
    return Limits(
        source=source,
        absolute=absolute,
        max_peak_rss_increase_pct=None
        if increase is None
        else _number(source, _INCREASE, increase),
        increase_by_config=by_config,
        improvements=tuple(improvements),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"No such gate config file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None


def load_limits(config: Path | None = None, *, search_from: Path | None = None) -> Limits:
    """From --config FILE (top level), else [tool.memdiag.gate] of the nearest pyproject.toml."""
    if config is not None:
        return parse_limits(_read_toml(config), str(config))
    start = (search_from or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            gate = _read_toml(pyproject).get("tool", {}).get("memdiag", {}).get("gate")
            if gate is None:
                break
            return parse_limits(gate, f"{pyproject} [tool.memdiag.gate]")
    raise UsageError(
        f"No gate thresholds: no [tool.memdiag.gate] in a pyproject.toml above {start}; "
        "add one or pass --config FILE"
    )


def _fmt(metric: str, value: float | None) -> str:
    return METRICS_BY_KEY[metric].format(value)


def check(
    comparison: Comparison, limits: Limits, baseline: Comparison | None = None
) -> list[Check]:
    """One Check per configured threshold (pure)."""
    checks: list[Check] = []
    for conf_name, conf_limits in limits.absolute.items():
        conf = comparison.config(conf_name)
        for key, limit in conf_limits.items():
            metric, factor = ABSOLUTE[key]
            name = f"{conf_name} {key} <= {plain(limit)}"
            value = conf.medians.get(metric) if conf is not None else None
            if conf is None:
                checks.append(Check(name, "failed", "n/a", "configuration not in this summary"))
            elif value is None:
                checks.append(Check(name, "failed", "n/a", f"no {metric} measured"))
            else:
                ok = value <= limit * factor
                why = f"median of {len(conf.runs)} run(s)" + (
                    "" if ok else f", over by {_fmt(metric, value - limit * factor)}"
                )
                checks.append(Check(name, "passed" if ok else "failed", _fmt(metric, value), why))
    if baseline is not None:
        checks += baseline_checks(comparison, limits, baseline)
    for imp in limits.improvements:
        checks.append(_improvement(comparison, imp))
    return checks


def baseline_checks(comparison: Comparison, limits: Limits, baseline: Comparison) -> list[Check]:
    checks = []
    for conf in comparison.configurations:
        pct = limits.increase_by_config.get(conf.name, limits.max_peak_rss_increase_pct)
        if pct is None:
            continue
        name = f"{conf.name} peak RSS vs baseline <= +{plain(pct)} %"
        before = baseline.config(conf.name)
        now = conf.medians.get("peak_rss_bytes")
        was = before.medians.get("peak_rss_bytes") if before is not None else None
        if before is None or was is None or now is None or was <= 0:
            checks.append(
                Check(
                    name,
                    "skipped",
                    _fmt("peak_rss_bytes", now),
                    "no peak RSS for this configuration in the baseline",
                )
            )
            continue
        unequal = work_differences(
            f"the baseline's {conf.name}",
            median_work(before.runs),
            conf.name,
            median_work(conf.runs),
        )
        if unequal:
            # Peak RSS of other work judges the work, not the build: 700-segment tasks
            # against a baseline's 300 would read as a regression that is none.
            checks.append(
                Check(
                    name,
                    NOT_COMPARABLE,
                    _fmt("peak_rss_bytes", now),
                    "; ".join(d.describe() for d in unequal),
                )
            )
            continue
        change = (now / was - 1.0) * 100.0
        ok = change <= pct
        checks.append(
            Check(
                name,
                "passed" if ok else "failed",
                signed_pct(change, 1),
                f"{_fmt('peak_rss_bytes', was)} -> {_fmt('peak_rss_bytes', now)}",
            )
        )
    return checks


def _improvement(comparison: Comparison, imp: Improvement) -> Check:
    name = f"{imp.better} {imp.metric} <= {plain(imp.ratio)} x {imp.than}"
    if imp.significant:
        name += " (significant)"
    v = comparison.pair_verdict(imp.metric, imp.than, imp.better)
    if v.outcome == "missing" or v.baseline_median is None or v.candidate_median is None:
        return Check(name, "failed", "n/a", f"{imp.better} or {imp.than} has no {imp.metric}")
    base, cand = v.baseline_median, v.candidate_median
    actual = ratio_text(cand / base) if base else f"{_fmt(imp.metric, cand)} vs 0"
    if not cand <= imp.ratio * base:
        return Check(
            name, "failed", actual, f"{_fmt(imp.metric, cand)} vs {_fmt(imp.metric, base)}"
        )
    if imp.significant and v.outcome == "inconclusive":
        return Check(name, "inconclusive", actual, v.label)
    if imp.significant and v.outcome != "better":
        return Check(
            name,
            "failed",
            actual,
            f"not significant: {v.label}"
            + (f", p={fixed(v.p_value, 3)}" if v.p_value is not None else ""),
        )
    if not imp.significant:
        return Check(
            name, "passed", actual, f"{_fmt(imp.metric, cand)} vs {_fmt(imp.metric, base)}"
        )
    return Check(name, "passed", actual, v.label)


def exit_code(checks: list[Check], comparison: Comparison) -> ExitCode:
    """3 if a run is invalid or the configurations did not do the same work (thresholds on
    unequal work judge the work, not the design), else 1 if any check failed, else 4 if
    any is inconclusive."""
    if not comparison.valid or comparison.not_comparable:
        return ExitCode.INVALID
    return checks_exit_code(checks)


def checks_exit_code(checks: Sequence[Check]) -> ExitCode:
    """3 if a check's work differs from its baseline's, else 1 if any check failed, else 4
    if any is inconclusive, else 0."""
    if any(c.status == NOT_COMPARABLE for c in checks):
        return ExitCode.INVALID
    if any(c.status == "failed" for c in checks):
        return ExitCode.FAILED
    if any(c.status == "inconclusive" for c in checks):
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK
