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
