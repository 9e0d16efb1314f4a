"""The server's settings: a bad MEMDIAG_* number is a one-line usage error (exit 2)."""

from __future__ import annotations

import pytest

from reference_server.__main__ import main
from reference_server.settings import SettingsError, build_parser, parse_settings

# Every numeric option, named as its environment variable (MEMDIAG_<DEST>).
NUMERIC_ENV = sorted(
    f"MEMDIAG_{action.dest.upper()}"
    for action in build_parser({})._actions
    if action.type in (int, float)
)


def test_every_numeric_option_is_covered() -> None:
    assert "MEMDIAG_PORT" in NUMERIC_ENV and "MEMDIAG_DB_RETRY_S" in NUMERIC_ENV
    assert len(NUMERIC_ENV) == 9


@pytest.mark.parametrize("name", NUMERIC_ENV)
@pytest.mark.parametrize("value", ["abc", "", "nan"])
def test_bad_number_in_env_is_exit_2_with_one_line(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["--check"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"reference_server: {name}={value!r} is not "), err
    assert "Traceback" not in err


def test_good_numbers_in_env_become_defaults() -> None:
    environ = {"MEMDIAG_MONGO_URI": "mongodb://h/", "MEMDIAG_PORT": "9001",
               "MEMDIAG_DB_TIMEOUT_S": "2.5", "MEMDIAG_MAX_UPLOAD_MIB": "1"}  # fmt: skip
    settings = parse_settings([], environ)
    assert settings.port == 9001
    assert settings.db_timeout_s == 2.5
    assert settings.max_upload_bytes == 1024 * 1024
    # The command line still wins over the environment.
    assert parse_settings(["--port", "9002"], environ).port == 9002


def test_float_text_is_not_an_integer() -> None:
    with pytest.raises(SettingsError, match=r"MEMDIAG_WORKERS='2.5' is not an integer"):
        build_parser({"MEMDIAG_WORKERS": "2.5"})


def test_every_option_is_declared_once_with_its_env_name() -> None:
    from dataclasses import fields

    from reference_server.settings import Settings, env_name

    declared = [f for f in fields(Settings) if "option" in f.metadata]
    actions = {a.dest: a for a in build_parser({})._actions}
    for f in declared:
        assert f.name in actions, f.name
        if f.metadata["option"]["env"]:
            assert env_name(f) == "MEMDIAG_" + f.name.upper()
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        assert actions[f.name].default == default, f.name
    # --check and --help are the only arguments that are not settings.
    assert set(actions) - {f.name for f in declared} == {"check", "help"}


def test_env_overrides_the_default_and_the_command_line_the_env() -> None:
    from reference_server.settings import Settings

    base = {"MEMDIAG_MONGO_URI": "mongodb://h/"}
    assert Settings.from_env(base).workers == 4
    env = {**base, "MEMDIAG_WORKERS": "7", "MEMDIAG_MODE": "lean", "MEMDIAG_UPLOAD_DIR": "/tmp/u"}
    from_env = Settings.from_env(env)
    assert (from_env.workers, from_env.mode, str(from_env.upload_dir)) == (7, "lean", "/tmp/u")
    assert from_env.switches.status_view == "summary"  # lean's: derived from the mode
    # The parser's settings from the same environment are the same settings.
    assert parse_settings([], env) == from_env
    cli = parse_settings(["--workers", "2", "--mode", "db-polling"], env)
    assert (cli.workers, cli.mode) == (2, "db-polling")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MEMDIAG_WORKERS", "-1", "--workers must be at least 1"),
        ("MEMDIAG_PORT", "70000", "--port 70000 is not a TCP port"),
        ("MEMDIAG_PORT", "abc", "MEMDIAG_PORT='abc' is not an integer"),
    ],
)
def test_bad_env_value_is_exit_2_with_one_line(
    name: str,
    value: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["--check"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"reference_server: {message}"]
