"""The built-in scenarios' names: one type for their three spellings, one parse function.

A scenario is a module of loadtests/scenarios/ (`polling_storm`: run.json and
summary.json store this spelling), given on memdiag's command line with dashes
(`--scenario polling-storm`; the module's spelling is accepted too), and named in
memdiag ablate's plan by a short key (`storm`, stored in ablation.json).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScenarioName:
    module_name: str  # polling_storm: loadtests/scenarios/polling_storm.py, run.json
    short_name: str = ""  # storm: memdiag ablate's key (the module name when not given)

    @property
    def cli_name(self) -> str:
        """polling-storm: the spelling of --scenario and of the help."""
        return self.module_name.replace("_", "-")

    @property
    def short(self) -> str:
        return self.short_name or self.module_name

    def __str__(self) -> str:
        return self.module_name


FRONTEND_TABS = ScenarioName("frontend_tabs")
POLLING_STORM = ScenarioName("polling_storm", "storm")
DASHBOARD = ScenarioName("dashboard")
UPLOADS = ScenarioName("uploads")
SOAK = ScenarioName("soak")
TASK_CHURN = ScenarioName("task_churn", "churn")
URL_POLL = ScenarioName("url_poll")

SCENARIO_NAMES = (FRONTEND_TABS, POLLING_STORM, DASHBOARD, UPLOADS, SOAK, TASK_CHURN, URL_POLL)


def module_spelling(text: str) -> str:
    """Any scenario's name in the module's spelling (a user's locustfile's too)."""
    return text.replace("-", "_")


def parse_scenario(text: str) -> ScenarioName:
    """A built-in scenario by its module or command-line spelling (polling_storm,
    polling-storm); ValueError naming the scenarios when there is none of that name."""
    key = module_spelling(text)
    for name in SCENARIO_NAMES:
        if name.module_name == key:
            return name
    names = ", ".join(n.cli_name for n in SCENARIO_NAMES)
    raise ValueError(f"{text!r} is not a scenario; use one of {names}")
