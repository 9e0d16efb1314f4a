"""The measurement options, declared once (`profiling.run.settings`): every measuring
command has each of them, with its env name and default; the environment overrides a
default and the command line the environment; the pytest plugin builds the same settings
from the same values; a bad variable is a one-line usage error (exit 2)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from profiling.cli import build_parser, main
from profiling.errors import UsageError
from profiling.run.options import ENV_NOTE, OWN_SERVER_OPTIONS, load_plan, server_plan
from profiling.run.settings import (
    LoadSettings,
    ServerSettings,
    env_name,
    env_note,
    flags,
    from_args,
    options,
)

GROUPS = (LoadSettings, ServerSettings)
DECLARED = [f for cls in GROUPS for f in options(cls)]
ENV_FIELDS = [f for f in DECLARED if f.metadata["option"].env]
MEASURING = ["measure", "compare", "sweep", "ablate", "bisect", "check"]
REQUIRED = {"sweep": ["--param", "rate", "--values", "1,2"], "bisect": ["--good", "HEAD"]}
REQUIRED["check"] = REQUIRED["bisect"]
# bisect and check measure users' own servers: of the server options only these apply.
OWN_SERVERS_ONLY = ("bisect", "check")
OWN = OWN_SERVER_OPTIONS
# Per variable: its text, the value it gives, a command line that overrides it, and that
# command line's value. A new variable needs a row (the first test says so).
SAMPLES: dict[str, tuple[str, Any, list[str], Any]] = {
    "scenario": ("dashboard", "dashboard", ["--scenario", "uploads"], "uploads"),
    "users": ("7", 7, ["--users", "9"], 9),
    "rate": ("2.5", 2.5, ["--rate", "4"], 4.0),
    "duration": ("12", 12.0, ["--duration", "8"], 8.0),
    "warmup": ("0", 0.0, ["--warmup", "6"], 6.0),
    "cooldown": ("1.5", 1.5, ["--cooldown", "0"], 0.0),
    "ready_timeout": ("5", 5.0, ["--ready-timeout", "9"], 9.0),
    "no_preflight": ("off", False, ["--no-preflight"], True),
    "mongo_uri": ("mongodb://a/", "mongodb://a/", ["--mongo-uri", "mongodb://b/"], "mongodb://b/"),
    "db_engine": ("ferretdb", "ferretdb", ["--db-engine", "mongo-java"], "mongo-java"),
    "no_agent": ("0", False, ["--no-agent"], True),
}


@pytest.fixture(autouse=True)
def _no_declared_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for f in ENV_FIELDS:
        monkeypatch.delenv(env_name(f), raising=False)


def command_parser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices[name]
    return parser


def test_every_variable_has_a_sample_and_the_note_names_each() -> None:
    assert sorted(SAMPLES) == sorted(f.name for f in ENV_FIELDS)
    assert env_note() == ENV_NOTE
    for f in ENV_FIELDS:
        assert env_name(f) == "MEMDIAG_" + f.name.upper()
        assert env_name(f) in ENV_NOTE


@pytest.mark.parametrize("command", MEASURING)
def test_every_option_is_in_the_command_with_its_env_name_and_default(command: str) -> None:
    parser = command_parser(command)
    actions = {a.dest: a for a in parser._actions}
    text = parser.format_help()
    for f in DECLARED:
        if command in OWN_SERVERS_ONLY and f in options(ServerSettings) and f.name not in OWN:
            assert f.name not in actions, f"{command} lists {f.name}, which does not apply"
            continue
        assert actions[f.name].option_strings == list(flags(f)), f.name
        meta = f.metadata["option"]
        if meta.help is not None and "{default}" in meta.help:
            shown = f"{f.default:g}" if isinstance(f.default, float) else str(f.default)
            assert f"default {shown}" in " ".join(actions[f.name].help.split()), f.name
    if command in ("measure", "compare", "sweep"):
        assert ENV_NOTE in text.replace("\n", " ")
    # Left out, each option takes its declared default (ablate: its own frame count).
    args = parser.parse_args(REQUIRED.get(command, []))
    assert from_args(LoadSettings, args, environ={}) == LoadSettings()
    frames = 1 if command == "ablate" else ServerSettings().tracemalloc_frames
    assert from_args(ServerSettings, args, environ={}) == ServerSettings(tracemalloc_frames=frames)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_env_overrides_the_default_and_the_command_line_the_env(name: str) -> None:
    (f,) = [f for f in ENV_FIELDS if f.name == name]
    cls = LoadSettings if f in options(LoadSettings) else ServerSettings
    text, env_value, argv, cli_value = SAMPLES[name]
    parser = command_parser("measure")
    environ = {env_name(f): text}
    from_env = from_args(cls, parser.parse_args([]), environ)
    assert getattr(from_env, name) == env_value
    assert from_env.origin == {name: env_name(f)}
    from_cli = from_args(cls, parser.parse_args(argv), environ)
    assert getattr(from_cli, name) == cli_value
    assert from_cli.origin == {name: argv[0]}
    # An empty variable is an unset one.
    assert from_args(cls, parser.parse_args([]), {env_name(f): ""}) == cls()


def test_a_command_default_yields_to_the_env() -> None:
    from profiling.commands import ablate

    args = build_parser().parse_args(["ablate"])
    load = ablate.load_settings(args)
    assert (load.duration, load.warmup, load.cooldown) == (10.0, 5.0, 1.0)
    assert ablate.own_warmups(args, load)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEMDIAG_WARMUP", "8")
        load = ablate.load_settings(args)
        assert load.warmup == 8.0 and not ablate.own_warmups(args, load)


def test_the_plugin_and_the_cli_build_equal_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from profiling.plugin_measure import load_settings

    monkeypatch.setenv("MEMDIAG_COOLDOWN", "0.5")
    monkeypatch.setenv("MEMDIAG_RATE", "3")  # overridden by both
    argv = ["--scenario", "frontend-tabs", "--rate", "4", "--warmup", "2", "--duration", "5"]
    argv += ["-O", "segments=300", "--users", "3", "--load-processes", "2"]
    cli = from_args(LoadSettings, command_parser("measure").parse_args(argv))
    plugin = load_settings(
        scenario="frontend-tabs",
        rate=4,
        warmup=2,
        duration=5,
        options={"segments": 300},
        users=3,
        load_processes=2,
    )
    assert plugin == cli
    assert plugin.cooldown == 0.5
    assert load_plan(plugin) == load_plan(cli)
    # Left out on both sides: the same defaults.
    assert load_settings() == from_args(LoadSettings, command_parser("measure").parse_args([]))
    with pytest.raises(UsageError, match="no such option"):
        load_settings(warmup_s=3)


def test_server_plan_takes_the_declared_defaults() -> None:
    plan = server_plan(ServerSettings())
    assert plan.sample_interval_s == ServerSettings().sample_interval
    assert plan.tracemalloc_frames == ServerSettings().tracemalloc_frames
    assert plan.agent is True


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MEMDIAG_RATE", "fast", "MEMDIAG_RATE='fast' is not a valid value; unset it or fix it"),
        ("MEMDIAG_USERS", "2.5", "MEMDIAG_USERS='2.5' is not a valid value; unset it or fix it"),
        ("MEMDIAG_NO_AGENT", "maybe", "MEMDIAG_NO_AGENT='maybe' is not a valid value"),
        ("MEMDIAG_DB_ENGINE", "sqlite", "MEMDIAG_DB_ENGINE 'sqlite' is not a DB engine"),
        ("MEMDIAG_DURATION", "-1", "--rate and --duration must be > 0"),
    ],
)
@pytest.mark.parametrize(
    "argv",
    [["measure"], ["compare"], ["sweep", "--param", "rate", "--values", "1,2"], ["ablate"]],
)
def test_a_bad_variable_is_exit_2_with_one_line(
    variable: str,
    value: str,
    message: str,
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    assert main([*argv, "--dry-run"] if argv == ["ablate"] else argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"memdiag {argv[0]}: {message}"), line
