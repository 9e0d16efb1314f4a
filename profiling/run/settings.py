"""The measurement options, each declared once: `LoadSettings` and `ServerSettings`.

A field is an option: its default and help text are written in `declare(...)`, its flag
is `--<field-name>` (unless it names others), and with `env=True` its environment
variable `MEMDIAG_<FIELD>` supplies a default, which the command line overrides. From
the fields come the argparse arguments (`add_arguments`), the environment's values and
the settings themselves (`resolve` from any mapping of given values, as the pytest
plugin has them; `from_args` from a command's parsed arguments). The plans a run is
given (`profiling.run.plans`) take their defaults from here too; `profiling.run.options`
checks the values and builds the plans.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from loadtests.names import POLLING_STORM, SCENARIO_NAMES
from profiling.errors import UsageError

S = TypeVar("S", "LoadSettings", "ServerSettings")
DEFAULT_SCENARIO = POLLING_STORM.cli_name
_SCENARIO_NAMES = ", ".join(n.cli_name for n in SCENARIO_NAMES)


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


@dataclass(frozen=True, slots=True)
class Option:
    """What a field declares beyond its default (see `declare`)."""

    help: str
    kind: Callable[[str], Any] | None
    env: bool
    flags: tuple[str, ...]
    argparse: Mapping[str, Any]


def declare(
    default: Any,
    help: str,
    *,
    kind: Callable[[str], Any] | None = None,
    env: bool = False,
    flags: tuple[str, ...] = (),
    **argparse_kw: Any,
) -> Any:
    """A settings field that is a command-line option.

    `help` may write {default} (the default, 10.0 as 10) and {env} (`MEMDIAG_<FIELD>`);
    `kind` converts text (taken from the default for int, float and bool); `env=True`
    reads the variable; `flags` replaces `--<field-name>`; the rest goes to argparse.
    """
    kinds: dict[type, Callable[[str], Any]] = {bool: _flag, int: int, float: float}
    meta = Option(help, kind or kinds.get(type(default)), env, flags, argparse_kw)
    return field(default=default, metadata={"option": meta})


def _origin() -> Any:
    # Which options were given, and where ("--rate", "MEMDIAG_RATE"); not part of equality.
    return field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """The load options: identical for every configuration of a comparison."""

    scenario: str = declare(
        DEFAULT_SCENARIO,
        f"built-in scenario: {_SCENARIO_NAMES} (default {{default}})",
        env=True,
    )
    locustfile: Path | None = declare(None, "your own locustfile instead of a scenario", kind=Path)
    users: int | None = declare(
        None,
        "Locust users; in polling-storm and frontend-tabs each is a browser tab on its own"
        " keep-alive connection(s), polling every users / rate seconds so the rate is kept"
        " (default rate x poll_interval_s, -O poll_interval_s=1: a tab polls once a second;"
        " other scenarios: max(50, 20 x rate))",
        kind=int,
        env=True,
    )
    rate: float = declare(
        10.0, "target arrival rate of the main stream per second (default {default})", env=True
    )
    duration: float = declare(30.0, "steady (measured) seconds (default {default})", env=True)
    warmup: float = declare(
        30.0,
        "warm-up seconds, discarded (default {default}: the full-view designs' RSS takes about"
        " 20 s of load to reach its plateau; steady growth after it measures retention)",
        env=True,
    )
    cooldown: float = declare(
        3.0, "seconds sampled after the load stops (default {default})", env=True
    )
    ready_timeout: float = declare(
        120.0,
        "seconds the warm-up may run past --warmup until every polled task shows its"
        " target size; a run whose tasks never get there is invalid (default {default})",
        env=True,
    )
    load_processes: int = declare(
        1, "Locust processes (--processes); the total rate stays the target"
    )
    option: tuple[str, ...] = declare(
        (),
        "scenario option, e.g. -O segments=3000 -O view=summary (repeatable)",
        flags=("-O", "--option"),
        action="append",
        metavar="KEY=VALUE",
    )
    no_preflight: bool = declare(
        False,
        "skip the pre-flight, which times db-polling's per-poll work here and fits the"
        " polling scenarios' task size to it (or refuses a fixed size it cannot serve)",
        env=True,
        action="store_true",
    )
    status_endpoint: str | None = declare(
        None,
        "the request name of the status poll in the "
        "load results (default: 'GET /api/tasks/{id}' or the busiest GET)",
    )
    origin: Mapping[str, str] = _origin()


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How memdiag runs the reference server, its database and its probes."""

    mongo_uri: str | None = declare(
        None,
        "a MongoDB server to use (a fresh database per run); default: a fresh embedded DB per run",
        kind=str,
        env=True,
    )
    db_engine: str | None = declare(
        None,
        "the embedded DB: mongo-java (mongo-java-server, default) or ferretdb (env {env})",
        kind=str,
        env=True,
    )
    driver: str | None = declare(None, "the server's DB driver", choices=["motor", "pymongo-async"])
    workers: int | None = declare(None, "the server's task worker threads", kind=int)
    server_processes: int = declare(1, "server processes sharing the port (SO_REUSEPORT)")
    allocator: str | None = declare(None, "glibc, jemalloc or arenas=N (MALLOC_ARENA_MAX)")
    server_arg: tuple[str, ...] = declare(
        (),
        "extra argument for python -m reference_server (repeatable)",
        action="append",
        metavar="ARG",
    )
    sample_interval: float = declare(
        0.5, "RSS sampling interval in seconds (default {default} = 2 Hz)"
    )
    no_agent: bool = declare(
        False,
        "do not inject memdiag's in-process memory agent into the server (it splits"
        " RSS into Python objects, allocator free memory, mmapped and file-backed parts;"
        " env {env}=1)",
        env=True,
        action="store_true",
    )
    tracemalloc_frames: int = declare(
        25,
        "--profile tracemalloc: frames kept per allocation (default {default}; fewer make"
        " tracing cheaper but the sites coarser; tracing slows a poll-heavy design enough"
        " that it may no longer keep up with the load, and that run is then invalid)",
    )
    holders_tracemalloc_frames: int = declare(
        0,
        "--profile holders: trace allocations with N frames, for allocation sites "
        "(default {default}: off; even 1 frame makes a 1 MB json.dumps 5x slower, so a "
        "poll-heavy design may no longer keep up with the load)",
    )
    memray_native: bool = declare(False, "memray --native", action="store_true")
    memray_trace_python_allocators: bool = declare(
        False, "memray --trace-python-allocators (pymalloc's allocations too)", action="store_true"
    )
    origin: Mapping[str, str] = _origin()


GROUPS: dict[type[Any], str] = {
    LoadSettings: "load (identical for every configuration)",
    ServerSettings: "reference server and database",
}


def options(cls: type[Any]) -> list[Field[Any]]:
    """The fields of `cls` that are options, in declaration (and --help) order."""
    return [f for f in fields(cls) if "option" in f.metadata]


def env_name(f: Field[Any]) -> str:
    return f"MEMDIAG_{f.name.upper()}"


def _meta(f: Field[Any]) -> Option:
    meta: Option = f.metadata["option"]
    return meta


def flags(f: Field[Any]) -> tuple[str, ...]:
    return _meta(f).flags or ("--" + f.name.replace("_", "-"),)


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_arguments(
    parser: argparse.ArgumentParser,
    cls: type[Any],
    *,
    only: Collection[str] | None = None,
    title: str | None = None,
) -> None:
    """`cls`'s options (or those named in `only`) as one argument group of `parser`.

    An option left out parses to None, so `from_args` can tell what the command line
    gave from what the environment or the defaults supply; an option not added at all
    takes its environment value or default the same way.
    """
    group = parser.add_argument_group(title or GROUPS[cls])
    for f in options(cls):
        if only is not None and f.name not in only:
            continue
        meta = _meta(f)
        kw = dict(meta.argparse)
        if meta.kind is not None and "action" not in kw:
            kw["type"] = meta.kind
        if meta.help is not None:
            kw["help"] = meta.help.replace("{default}", _shown(f.default)).replace(
                "{env}", env_name(f)
            )
        group.add_argument(*flags(f), dest=f.name, default=None, **kw)


def env_note() -> str:
    """The commands' description line naming every variable the options read."""
    names = [env_name(f) for cls in GROUPS for f in options(cls) if _meta(f).env]
    return f"Defaults come from {', '.join(names[:-1])} and {names[-1]} when set."


def _from_env(f: Field[Any], environ: Mapping[str, str]) -> Any:
    raw = environ[env_name(f)]
    kind = _meta(f).kind or str
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(
            f"{env_name(f)}={raw!r} is not a valid value; unset it or fix it"
        ) from None


def resolve(
    cls: type[S],
    given: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> S:
    """Settings from the values `given` (None: not given), else the environment, else
    `defaults` (a command's own), else the declared default.

    A bad variable fails only the command that reads it, with a one-line message.
    """
    environ = os.environ if environ is None else environ
    fs = options(cls)
    unknown = set(given) - {f.name for f in fs}
    if unknown:  # a renamed option: fail loudly rather than drop a caller's setting
        raise UsageError(f"no such option(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for f in fs:
        if given.get(f.name) is not None:
            values[f.name], origin[f.name] = given[f.name], flags(f)[-1]
        elif _meta(f).env and environ.get(env_name(f), "") != "":
            values[f.name], origin[f.name] = _from_env(f, environ), env_name(f)
        elif defaults is not None and f.name in defaults:
            values[f.name] = defaults[f.name]
        if isinstance(f.default, tuple) and f.name in values:
            values[f.name] = tuple(values[f.name])
    return cls(**values, origin=origin)


def from_args(
    cls: type[S],
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> S:
    """The settings of a command's parsed arguments (`add_arguments`), as `resolve`."""
    given = {f.name: getattr(args, f.name, None) for f in options(cls)}
    return resolve(cls, given, environ, defaults)
