"""A user's own server as a configuration: the command that starts it, and where it listens.

`memdiag compare --server NAME='CMD ...'` and `[tool.memdiag.servers.NAME]` tables of
pyproject.toml both become a `ServerCommand`: the argv, extra environment, working
folder, health path and how its URL is found. The URL is either a template with a
`{port}` placeholder (the command gets a free port in the same placeholder) or, when the
command names no port, the first line the server prints on stdout (the reference
server's habit). Plain values, no processes: `profiling.run.command_server` starts them.
"""

from __future__ import annotations

import shlex
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from profiling.errors import UsageError

PORT = "{port}"
PYTHON = "{python}"  # the interpreter: a revision's own venv, else memdiag's own
DEFAULT_HEALTH_PATH = "/healthz"
DEFAULT_URL = "http://127.0.0.1:{port}"


@dataclass(frozen=True, slots=True)
class ServerCommand:
    """How to start one server under test; `argv` may hold `{port}` and `{python}`."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    health_path: str = DEFAULT_HEALTH_PATH
    # "http://127.0.0.1:{port}" style; None: the first stdout line unless argv has {port}
    url: str | None = None
    # A git revision's commit and subject, shown in reports (empty for a plain command)
    commit: str = ""
    subject: str = ""
    # The interpreter for `{python}` (a revision's own venv); empty: memdiag's own
    python: str = ""

    @property
    def uses_port(self) -> bool:
        return any(PORT in arg for arg in self.argv) or PORT in (self.url or "")

    @property
    def spec(self) -> str:
        """What the report shows for this configuration."""
        if self.commit:
            return f"rev {self.name} {self.commit[:10]} {self.subject}".rstrip()
        return "cmd " + shlex.join(self.argv)

    def url_for(self, port: int) -> str | None:
        """The base URL when it is known before start; None: read the first stdout line."""
        if self.url is not None:
            return self.url.replace(PORT, str(port))
        return DEFAULT_URL.replace(PORT, str(port)) if self.uses_port else None

    def argv_for(self, port: int) -> list[str]:
        python = self.python or sys.executable
        return [a.replace(PORT, str(port)).replace(PYTHON, python) for a in self.argv]


def _argv(name: str, command: object, where: str) -> tuple[str, ...]:
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"{where}: cannot split {command!r}: {exc}") from None
    elif isinstance(command, list) and all(isinstance(a, str) for a in command):
        argv = list(command)
    else:
        raise UsageError(f"{where}: command must be a string or a list of strings")
    if not argv:
        raise UsageError(f"{where}: server {name!r} has an empty command")
    return tuple(argv)


def _check_name(name: str, where: str) -> str:
    name = name.strip()
    if not name or any(c in name for c in ",@:=/ "):
        raise UsageError(f"{where}: {name!r} is not a server name; use letters, digits, - or _")
    return name


def parse_server_option(text: str) -> ServerCommand:
    """`NAME=CMD ...` (the --server option) -> ServerCommand."""
    name, sep, command = text.partition("=")
    if not sep:
        raise UsageError(f"--server {text!r}: write NAME='COMMAND ...', e.g. app='python app.py'")
    where = f"--server {text!r}"
    return ServerCommand(_check_name(name, where), _argv(name, command, where))


def from_table(name: str, table: Mapping[str, object], where: str, base: Path) -> ServerCommand:
    """One `[tool.memdiag.servers.NAME]` table -> ServerCommand; `cwd` is relative to
    `base` (the folder of the pyproject.toml)."""
    known = {"command", "env", "cwd", "health", "url"}
    if unknown := sorted(set(table) - known):
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {sorted(known)}")
    if "command" not in table:
        raise UsageError(f"{where}: needs command = 'CMD ...'")
    env = table.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise UsageError(f"{where}: env must be a table of strings")
    cwd, health, url = table.get("cwd"), table.get("health", DEFAULT_HEALTH_PATH), table.get("url")
    for key, value in (("cwd", cwd), ("health", health), ("url", url)):
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{where}: {key} must be a string")
    return ServerCommand(
        _check_name(name, where),
        _argv(name, table["command"], where),
        env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        cwd=str((base / str(cwd)).resolve()) if cwd is not None else None,
        health_path=str(health),
        url=str(url) if url is not None else None,
    )


def servers_from_pyproject(path: Path) -> dict[str, ServerCommand]:
    """Every `[tool.memdiag.servers.NAME]` of `path` (none: an empty dict)."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    servers = doc.get("tool", {}).get("memdiag", {}).get("servers", {})
    if not isinstance(servers, dict):
        raise UsageError(f"{path}: [tool.memdiag.servers] must be tables, one per server")
    out = {}
    for name, table in servers.items():
        if not isinstance(table, dict):
            raise UsageError(f"{path} [tool.memdiag.servers.{name}] must be a table")
        out[name] = from_table(name, table, f"{path} [tool.memdiag.servers.{name}]", path.parent)
    return out
