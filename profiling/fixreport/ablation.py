"""The ablation plan: which configurations measure which claim of the fix report (pure).

The fix report (docs/INCIDENT.md) attaches an expected saving to each of its eight changes;
the reference server has one switch per change. An ablation flips one switch (or a
named group of switches that only make sense together) at a time from a base:

    memory-first   leave-one-out: each change undone alone (its db-polling value)
    db-polling     add-one-in: each change applied alone (memory-first's value, or
                   lean's for the switches memory-first leaves as db-polling has them)
    lean           leave-one-out of lean's extras (each back to memory-first's value)

plus one row for all of them at once (the report's headline), and, opt-in (`missed=True`
or by name), the causes the report missed (`profiling.fixreport.missed`), each applied alone and
judged against its `Step.reference` (the base unless the row names another). Each is measured
under the scenario that exercises it, with its claim's own metric (`CLAIMS`); one
schedule per scenario, the base and its variants interleaved (A B C A B C). Nothing
here runs anything: `plan(...)` returns frozen values the `ablate` command schedules
and `profiling.verdict.claims` judges. The claims themselves, their scenarios and the presets'
switch values are data in `profiling.fixreport.claims`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from profiling.errors import UsageError
from profiling.fixreport import missed as _missed
from profiling.fixreport.claims import (
    ALL,
    CLAIMS,
    MB,
    PRESETS,
    SCENARIOS,
    Claim,
    Expected,
    ScenarioLoad,
)

__all__ = ["ALL", "CLAIMS", "MB", "PRESETS", "SCENARIOS", "AblationPlan", "Claim", "Expected",
           "ScenarioLoad", "Step", "available", "describe", "plan"]  # fmt: skip

BASES = tuple(PRESETS)
DIRECTION = {"memory-first": "leave-one-out", "db-polling": "add-one-in", "lean": "leave-one-out"}
# Where the flipped value comes from: the change undone (leave-one-out) or applied.
_OTHER = {"memory-first": ("db-polling",), "db-polling": ("memory-first", "lean"),
          "lean": ("memory-first",)}  # fmt: skip
# Lean's extras over memory-first (list_cleanup differs too, but lean's value is the
# absence of memory-first's gc on the list path: change 7, measured from memory-first).
LEAN_EXTRAS = ("status_view", "json_encoder", "segment_storage", "checkpoint_interval_s",
               "projections")  # fmt: skip
# Switches flipped with another because alone they give a run that cannot be valid:
# polls of the DB (poll_source=db) see a task only as often as it is checkpointed, and
# memory-first writes it once, at the end; so undoing change 1-2 undoes both halves.
COMPANIONS = {("memory-first", "poll_source"): ("checkpoint_interval_s",)}
# Steps left out for the same reason: db-polling writing only at the end, its polls of
# the DB would never see the tasks grow (the run waits for readiness, then is invalid).
# release_body_after_send (on in lean) is not a change of the report: it is measured as
# the missed row `release_bodies` (profiling.fixreport.missed), from db-polling too.
EXCLUDED = {("db-polling", "checkpoint_interval_s"), ("db-polling", "release_body_after_send")}
# Which groups each base offers (a group needs every one of its switches in the base).
_BASE_GROUPS = {"memory-first": (), "db-polling": ("summary_reads",), "lean": ("summary_orjson",)}
# Values an applied change is measured at instead of the preset's: the report's sweep
# runs every 10 minutes, which a run of a minute never sees fire; every 5 s it removes
# the same orphans (in the long run the interval only sets how long they linger).
MEASURED_AT = {"orphan_sweep_interval_s": "5"}
# Leave-one-out steps measured on another footing than the base, because from the base
# itself the undone change could not show in a run of a minute:
# - change 3 (no copy on merge) acts where a status update is merged into the DB task;
#   memory-first merges only when a task ends, which the storm's tasks never do, so it
#   is measured with memory-first checkpointing every second (the checkpoint step's own
#   configuration) against the same with the copy;
# - change 8: memory-first's 600 s sweep never fires in a run, so memory-first stands for
#   the sweep undone, and the sweep is measured at MEASURED_AT's 5 s against it.
ON_FOOTING = {("memory-first", "copy_on_merge"): ("checkpoint_interval_s=1",)}
APPLIED_FROM_BASE = {("memory-first", "orphan_sweep_interval_s")}
# Allocators: the base under another malloc (`mode@ALLOCATOR`); not in the default plan,
# like every other missed cause (`profiling.fixreport.missed`).
ALLOCATORS = _missed.ALLOCATORS
QUICK = {"memory-first": ("poll_source", ALL), "db-polling": ("poll_source", ALL),
         "lean": ("status_view", ALL)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """One configuration measured against its scenario's base for one claim."""

    key: str
    claim: str  # the CLAIMS key (ALL from lean is "all_lean")
    load: str
    overrides: tuple[str, ...]  # "switch=value" over the base
    spec: str  # the configuration, "memory-first:poll_source=db", or a preset's name
    with_change: bool  # True when this configuration has the change (add-one-in)
    # The configuration it is judged against: "" for the base (every change of the
    # report); a missed cause may name another ("db-polling" for driver_async).
    reference: str = ""


@dataclass(frozen=True, slots=True)
class AblationPlan:
    base: str
    direction: str
    steps: tuple[Step, ...]
    repeat: int
    skipped: tuple[tuple[str, str], ...] = ()  # (key, why it is not measured)

    def loads(self) -> list[str]:
        return list(dict.fromkeys(s.load for s in self.steps))

    def configs(self, load: str) -> list[str]:
        """The base first, then each variant measured under `load` (one schedule); a
        step's reference that is not in the schedule yet joins it once, before it."""
        out = [self.base]
        for s in (s for s in self.steps if s.load == load):
            out += [c for c in (s.reference, s.spec) if c and c not in out]
        return out

    def runs(self) -> int:
        return sum(len(self.configs(load)) for load in self.loads()) * self.repeat

    def estimated_s(self, phases_s: float | Mapping[str, float]) -> float:
        """Wall time if every run takes its phases (one figure, or one per scenario
        load) plus its scenario's `overhead_s`."""
        return sum(
            len(self.configs(load))
            * self.repeat
            * (_phases(phases_s, load) + SCENARIOS[load].overhead_s)
            for load in self.loads()
        )


def _phases(phases_s: float | Mapping[str, float], load: str) -> float:
    return phases_s if isinstance(phases_s, int | float) else phases_s[load]


def available(base: str) -> list[str]:
    """The keys an ablation from `base` can flip: switches that differ from the other
    design(s), its groups, and ALL."""
    if base not in PRESETS:
        raise UsageError(f"--base {base!r}: use one of {', '.join(BASES)}")
    mine = PRESETS[base]
    keys = []
    for switch in mine:
        if (base == "lean" and switch not in LEAN_EXTRAS) or (base, switch) in EXCLUDED:
            continue
        if any(PRESETS[o][switch] != mine[switch] for o in _OTHER[base]):
            keys.append(switch)
    return [*keys, *_BASE_GROUPS[base], *_missed.offered(base), ALL]


def _flipped(base: str, switch: str) -> str:
    mine = PRESETS[base][switch]
    for other in _OTHER[base]:
        if PRESETS[other][switch] != mine:
            applied = DIRECTION[base] == "add-one-in"
            return (
                MEASURED_AT.get(switch, PRESETS[other][switch])
                if applied
                else PRESETS[other][switch]
            )
    raise UsageError(f"switch {switch} is the same in {base} and {', '.join(_OTHER[base])}")


def claim_key(base: str, key: str) -> str:
    return "all_lean" if (base, key) == ("lean", ALL) else key


def _step(base: str, key: str) -> Step:
    name = claim_key(base, key)
    claim = CLAIMS[name]
    direction = DIRECTION[base]
    if key in ALLOCATORS:
        # The change is the allocator under the base design: with it, the variant.
        return Step(key, name, claim.load, (), f"{base}@{ALLOCATORS[key]}", True)
    if key in _missed.ROWS:
        row = _missed.ROWS[key]
        return Step(key, name, claim.load, row.overrides, row.spec(base), True, row.reference(base))
    if key == ALL:
        # Every change at once is the other design itself (the headline's comparison).
        other = "memory-first" if base in ("db-polling", "lean") else "db-polling"
        return Step(key, name, claim.load, (), other, direction == "add-one-in")
    if (base, key) in APPLIED_FROM_BASE:
        applied = f"{key}={MEASURED_AT[key]}"
        return Step(key, name, claim.load, (applied,), f"{base}:{applied}", True)
    switches = (*(claim.switches or (key,)), *COMPANIONS.get((base, key), ()))
    overrides = tuple(f"{s}={_flipped(base, s)}" for s in switches)
    footing = ON_FOOTING.get((base, key), ())
    spec = f"{base}:{','.join((*footing, *overrides))}"
    reference = f"{base}:{','.join(footing)}" if footing else ""
    return Step(key, name, claim.load, overrides, spec, direction == "add-one-in", reference)


def plan(
    base: str,
    switches: Sequence[str] | None = None,
    *,
    repeat: int = 4,
    quick: bool = False,
    have: Sequence[str] = (),
    missed: bool = False,
) -> AblationPlan:
    """The ablation from `base` over `switches` (default: every change of the report
    `available` offers, or the headline ones with `quick`), plus with `missed` every
    missed-cause row the base offers. `have` names the inputs at hand (e.g. "audio_dir":
    given, or makeable): a scenario that needs a missing one is skipped with the reason."""
    keys = available(base)
    if switches:
        unknown = [s for s in switches if s not in CLAIMS or s == "all_lean"]
        if unknown:
            raise UsageError(
                f"--switches: unknown switch {unknown[0]!r}; {base} offers {', '.join(keys)}"
            )
        absent = [s for s in switches if s not in keys]
        if absent:
            raise UsageError(
                f"--switches: {absent[0]!r} is not a change {base} makes "
                f"({DIRECTION[base]}); it offers {', '.join(keys)}"
            )
        chosen = list(dict.fromkeys(switches))
    else:
        extra = _missed.offered(base)
        chosen = [k for k in keys if (k in QUICK[base] if quick else k not in extra)]
    if missed:
        chosen = list(dict.fromkeys([*chosen, *_missed.offered(base)]))
    if repeat < 1:
        raise UsageError(f"--repeat {repeat}: need at least 1")
    steps, skipped = [], []
    for key in chosen:
        load = SCENARIOS[CLAIMS[claim_key(base, key)].load]
        if load.needs and load.needs not in have:
            flag = "--" + load.needs.replace("_", "-")
            why = f"needs {flag} (the {load.scenario} scenario's input)"
            skipped.append((key, why + (f", or {load.made_by}" if load.made_by else "")))
            continue
        steps.append(_step(base, key))
    return AblationPlan(base, DIRECTION[base], tuple(steps), repeat, tuple(skipped))


def describe(p: AblationPlan, phases_s: float | Mapping[str, float]) -> str:
    """The plan as `ablate --dry-run` prints it, with its estimated wall time."""
    lines = [f"ablation from {p.base} ({p.direction}), {p.repeat} interleaved repeat(s)"]
    for load in p.loads():
        scen = SCENARIOS[load]
        lines.append(
            f"  {scen.scenario} ({load}, {_phases(phases_s, load):g} s of phases a run): "
            f"{' | '.join(p.configs(load))}"
        )
        for step in (s for s in p.steps if s.load == load):
            claim = CLAIMS[step.claim]
            lines.append(
                f"    {step.key:<24} change {claim.change:<8} {claim.metrics[0]:<24} "
                f"claimed {claim.expected.text}"
            )
    for key, why in p.skipped:
        lines.append(f"  not measured: {key}: {why}")
    extra = [k for k in _missed.offered(p.base) if k not in {s.key for s in p.steps}]
    if extra:
        lines.append(f"  also available with --switches: {', '.join(extra)} (all: --missed)")
    minutes = p.estimated_s(phases_s) / 60
    lines.append(f"{p.runs()} runs, about {minutes:.0f} min (estimated)")
    return "\n".join(lines)
