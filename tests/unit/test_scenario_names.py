"""One scenario-name type: its three spellings, one parse function, the stored names."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.names import POLLING_STORM, SCENARIO_NAMES, TASK_CHURN, parse_scenario
from loadtests.runner import SCENARIO_DIR, SCENARIOS
from profiling.fixreport.ablation import SCENARIOS as ABLATION_LOADS
from profiling.results.folder import load_runs


def test_the_storm_in_its_three_spellings() -> None:
    assert (POLLING_STORM.module_name, POLLING_STORM.cli_name) == ("polling_storm", "polling-storm")
    assert POLLING_STORM.short == "storm" and TASK_CHURN.short == "churn"
    assert parse_scenario("polling-storm") is POLLING_STORM
    assert parse_scenario("polling_storm") is POLLING_STORM


def test_an_unknown_scenario_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'nope' is not a scenario; use one of frontend-tabs, "):
        parse_scenario("nope")


def test_every_name_is_a_module_of_the_scenarios() -> None:
    assert tuple(n.module_name for n in SCENARIO_NAMES) == SCENARIOS
    for name in SCENARIO_NAMES:
        assert (SCENARIO_DIR / f"{name.module_name}.py").is_file(), name


def test_the_ablation_keys_are_short_names_of_stored_scenarios(fixture_runs: Path) -> None:
    assert set(ABLATION_LOADS) == {"storm", "dashboard", "churn", "uploads"}
    for key, load in ABLATION_LOADS.items():
        assert load.name == key and parse_scenario(load.scenario).short == key
    # Run folders written before the type existed name their scenario the module's way.
    stored = {r.scenario.name for r in load_runs(fixture_runs / "ablation")}
    assert stored == {"polling_storm", "dashboard"}
    assert {parse_scenario(s).short for s in stored} == {"storm", "dashboard"}
