"""Server commands from --server and [tool.memdiag.servers] tables, and build options."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from profiling.cli import main
from profiling.errors import UsageError
from profiling.run.builds import build_configurations, parse_duration_s
from profiling.run.server_command import (
    ServerCommand,
    parse_server_option,
    servers_from_pyproject,
)
from profiling.run.servers import Configuration


def test_server_option_splits_like_a_shell_and_fills_the_port() -> None:
    cmd = parse_server_option("app=python 'my app.py' --port {port}")
    assert cmd.name == "app"
    assert cmd.argv == ("python", "my app.py", "--port", "{port}")
    assert cmd.uses_port
    assert cmd.url_for(8123) == "http://127.0.0.1:8123"
    assert cmd.argv_for(8123)[-1] == "8123"


def test_without_a_port_the_url_is_the_first_stdout_line() -> None:
    cmd = parse_server_option("app=python app.py")
    assert not cmd.uses_port and cmd.url_for(1) is None


def test_python_placeholder_is_the_revision_interpreter() -> None:
    cmd = ServerCommand("r", ("{python}", "app.py"), python="/venv/bin/python")
    assert cmd.argv_for(1)[0] == "/venv/bin/python"


@pytest.mark.parametrize("text", ["no-equals-sign", "=python app.py", "a b=python x", "app="])
def test_bad_server_options_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_server_option(text)


def test_a_command_configuration_reports_its_command_or_revision() -> None:
    cmd = parse_server_option("app=python app.py")
    assert Configuration("app", "", command=cmd).spec == "cmd python app.py"
    rev = ServerCommand("main", ("x",), commit="0123456789abcdef", subject="Add a cache")
    assert Configuration("main", "", command=rev).spec == "rev main 0123456789 Add a cache"


def test_pyproject_tables(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        """
[tool.memdiag.servers.api]
command = "gunicorn app:main --bind 127.0.0.1:{port}"
env = {APP_MODE = "prod"}
cwd = "sub"
health = "/ping"

[tool.memdiag.servers.plain]
command = ["python", "serve.py"]
url = "http://127.0.0.1:{port}/api"
"""
    )
    servers = servers_from_pyproject(tmp_path / "pyproject.toml")
    api, plain = servers["api"], servers["plain"]
    assert api.argv[0] == "gunicorn" and api.health_path == "/ping"
    assert dict(api.env) == {"APP_MODE": "prod"}
    assert api.cwd == str((tmp_path / "sub").resolve())
    assert plain.uses_port and plain.url_for(5) == "http://127.0.0.1:5/api"
    assert servers_from_pyproject(tmp_path / "missing.toml") == {}


@pytest.mark.parametrize(
    "body",
    [
        "[tool.memdiag.servers.x]\nenv = {A = 'b'}\n",  # no command
        "[tool.memdiag.servers.x]\ncommand = 'a'\nport = 3\n",  # unknown key
        "[tool.memdiag.servers.x]\ncommand = 7\n",
        "[tool.memdiag.servers.x\n",  # not TOML
    ],
)
def test_bad_tables_are_usage_errors(tmp_path: Path, body: str) -> None:
    (tmp_path / "pyproject.toml").write_text(body)
    with pytest.raises(UsageError):
        servers_from_pyproject(tmp_path / "pyproject.toml")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h", 3600), ("45", 45)])
def test_budget_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


def test_bad_budget() -> None:
    with pytest.raises(UsageError):
        parse_duration_s("soon")


@pytest.mark.parametrize("command", ["bisect", "check", "compare"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: memdiag " + command in out and "--server-cmd" in out


@pytest.mark.parametrize("command", ["bisect", "check"])
def test_bisect_and_check_list_only_what_applies_to_a_users_server(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for reference_only in ("--db-engine", "--driver", "--server-processes", "--allocator"):
        assert reference_only not in out
    assert "--sample-interval" in out and "--no-agent" in out


def test_bisect_and_checks_options_build_a_server_plan() -> None:
    from profiling.commands import bisect, check
    from profiling.run.options import server_plan
    from profiling.run.settings import ServerSettings, from_args

    plans = []
    for module in (bisect, check):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        args = parser.parse_args(["--good", "v1", "--sample-interval", "0.25", "--no-agent"])
        plans.append(server_plan(from_args(ServerSettings, args, environ={})))
    assert plans[0] == plans[1]
    assert plans[0].sample_interval_s == 0.25 and not plans[0].agent
    assert plans[0].processes == 1 and plans[0].extra_args == ()


def _args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"server": [], "rev": [], "health": "/healthz", "poll": []}
    return argparse.Namespace(**{**base, **kw})


def test_server_names_a_pyproject_table_and_twice_is_an_a_a_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.memdiag.servers.api]\ncommand = "python app.py --port {port}"\nhealth = "/up"\n'
    )
    monkeypatch.chdir(tmp_path)
    configs = build_configurations(_args(server=["api", "api"]))
    assert configs is not None
    assert [c.label for c in configs] == ["api", "api#2"]
    assert configs[0].command is not None and configs[0].command.health_path == "/up"
    with pytest.raises(UsageError, match=r"known: api"):
        build_configurations(_args(server=["nope"]))
    with pytest.raises(UsageError, match="not both"):
        build_configurations(_args(server=["api"], rev=["main"]))
    assert build_configurations(_args()) is None
