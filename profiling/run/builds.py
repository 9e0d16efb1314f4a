"""The options that turn a comparison into "any server, any two builds".

`memdiag compare` measures the reference server's designs by default; these options
replace them with users' own servers (`--server NAME='CMD ...'`, or `--server NAME` for
a `[tool.memdiag.servers.NAME]` table of ./pyproject.toml) or with git revisions of the
user's repository (`--rev A --rev B --server-cmd 'CMD'`, each revision exported and set
up once into memdiag's cache). `--poll 'GET /path'` picks the built-in url-poll scenario,
so a first comparison needs no locustfile. `bisect` and `check` share the revision
options (`add_revision_arguments`, `revision_configuration`).
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

from loadtests.names import URL_POLL, module_spelling
from profiling.errors import UsageError
from profiling.run.revisions import DEFAULT_SETUP, Revision, prepare, python_of, repo_root, resolve
from profiling.run.server_command import (
    ServerCommand,
    parse_server_option,
    servers_from_pyproject,
)
from profiling.run.servers import Configuration
from profiling.verdict.equivalence import DEFAULT_TOLERANCE, parse_tolerance


def add_poll_argument(group: Any) -> None:
    """`--poll 'GET /path'`: the built-in url_poll load, for compare, bisect and check."""
    group.add_argument(
        "--poll",
        action="append",
        default=[],
        metavar="'GET /path'",
        help="without a locustfile: poll these URLs round-robin at --rate (repeatable)",
    )


def add_revision_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("git revisions (your own server, at several commits)")
    g.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default .)")
    g.add_argument(
        "--server-cmd",
        metavar="CMD",
        help="the command that starts your server in a revision's tree; {port} is a free"
        " port (else its first stdout line is its URL), {python} the revision's interpreter",
    )
    g.add_argument(
        "--setup",
        metavar="CMD",
        default=DEFAULT_SETUP,
        help="run once per revision in its tree, then cached (default: a venv of its own and"
        " pip install .; e.g. --setup true when the current interpreter has what it needs)",
    )
    g.add_argument("--health", default="/healthz", help="health path (a 404 counts as healthy)")


def add_verdict_arguments(parser: argparse.ArgumentParser, *, optional: bool) -> None:
    g = parser.add_argument_group("three-way verdict (regression / same / unknown)")
    g.add_argument(
        "--tolerance",
        default=None if optional else f"{DEFAULT_TOLERANCE:.0%}",
        help="a difference inside it is 'same' once shown (default 5%%)"
        + (
            "; giving it asks compare for the verdict of the 2nd configuration vs the 1st"
            if optional
            else ""
        ),
    )
    if optional:  # compare's; bisect and check bound a step by --max-runs instead
        g.add_argument(
            "--budget",
            default=None,
            help="keep adding interleaved pairs of runs while the verdict is unknown, for at"
            " most this long (e.g. 90s, 10m)",
        )
    g.add_argument("--metric", default="peak_rss", help="peak_rss (default), median_rss, final_rss")


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("your own servers")
    g.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME='CMD'",
        help="a server started from a command, fresh for each run (repeatable); NAME alone"
        " names a [tool.memdiag.servers.NAME] table of ./pyproject.toml",
    )
    g.add_argument(
        "--rev",
        action="append",
        default=[],
        metavar="REV",
        help="a git revision of --repo, started with --server-cmd (repeatable)",
    )
    add_poll_argument(g)
    add_revision_arguments(parser)


def parse_duration_s(text: str) -> float:
    """'90s', '10m', '1h', '45' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None:
        raise UsageError(f"--budget {text!r}: write a duration like 90s, 10m or 1h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def tolerance_of(text: str) -> float:
    try:
        return parse_tolerance(text)
    except ValueError:
        raise UsageError(f"--tolerance {text!r}: write a percentage like 5%") from None


def revision_configuration(
    repo: Path, revision: Revision, server_cmd: str, setup: str, health: str, label: str
) -> Configuration:
    """A revision set up (from the cache when it was before) as a configuration."""
    tree = prepare(repo, revision, setup)
    command = ServerCommand(
        name=revision.name,
        argv=tuple(shlex.split(server_cmd)),
        cwd=str(tree),
        health_path=health,
        commit=revision.commit,
        subject=revision.subject,
        python=python_of(tree),
    )
    return Configuration(label, "", command=command)


def check_server_cmd(args: argparse.Namespace) -> str:
    if not args.server_cmd:
        raise UsageError("git revisions need --server-cmd 'CMD' (how to start your server)")
    try:
        if not shlex.split(args.server_cmd):
            raise ValueError("empty")
    except ValueError as exc:
        raise UsageError(f"--server-cmd {args.server_cmd!r}: {exc}") from None
    return str(args.server_cmd)


def build_configurations(args: argparse.Namespace) -> list[Configuration] | None:
    """The configurations of --server / --rev, or None when neither was given."""
    if not args.server and not args.rev:
        return None
    if args.server and args.rev:
        raise UsageError("give --server or --rev, not both")
    configs: list[Configuration] = []
    if args.server:
        tables: dict[str, ServerCommand] | None = None
        for text in args.server:
            if "=" in text:
                command = parse_server_option(text)
            else:
                tables = (
                    servers_from_pyproject(Path("pyproject.toml")) if tables is None else tables
                )
                if text not in tables:
                    known = ", ".join(sorted(tables)) or "none"
                    raise UsageError(
                        f"--server {text!r}: no [tool.memdiag.servers.{text}] in ./pyproject.toml"
                        f" (known: {known}); or write --server {text}='CMD ...'"
                    )
                command = tables[text]
            if args.health != "/healthz":
                command = replace(command, health_path=args.health)
            configs.append(Configuration(command.name, "", command=command))
    else:
        server_cmd = check_server_cmd(args)
        repo = repo_root(args.repo)
        for rev in args.rev:
            revision = resolve(repo, rev)
            configs.append(
                revision_configuration(repo, revision, server_cmd, args.setup, args.health, rev)
            )
    return _unique_labels(configs)


def _unique_labels(configs: list[Configuration]) -> list[Configuration]:
    """The same server twice is an A/A comparison: labelled app, app#2."""
    seen: dict[str, int] = {}
    out = []
    for config in configs:
        seen[config.label] = seen.get(config.label, 0) + 1
        n = seen[config.label]
        out.append(config if n == 1 else replace(config, label=f"{config.label}#{n}"))
    return out


def apply_poll(args: argparse.Namespace, own_servers: bool) -> None:
    """--poll (or a user's server with neither locustfile nor scenario) -> url-poll."""
    if args.poll and args.locustfile is not None:
        raise UsageError("give --poll or --locustfile, not both")
    if not args.poll and not (own_servers and args.locustfile is None and args.scenario is None):
        return
    if args.scenario is not None and module_spelling(args.scenario) != URL_POLL.module_name:
        raise UsageError(f"--poll polls your URLs; it cannot go with --scenario {args.scenario}")
    args.scenario = URL_POLL.cli_name
    paths = [p.strip() for p in args.poll] or ["GET /"]
    args.option = [*(args.option or []), "poll=" + "|".join(paths)]
