"""python -m reference_server: parse settings, serve, print the base URL once listening."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from reference_server.app import create_app
from reference_server.modes import ConfigError
from reference_server.settings import Settings, SettingsError, build_parser, settings_from_args


async def serve(settings: Settings, *, primary: bool = True) -> None:
    """Serve until SIGTERM/SIGINT; the primary process announces the URL."""
    app = create_app(settings, fail_interrupted=primary)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.processes > 1)
    await site.start()
    host, port = runner.addresses[0][:2]
    published = await _publish_own_address(runner, settings) if settings.metrics_dir else None
    if primary:
        print(f"http://{host}:{port}/", flush=True)
        print(
            f"memdiag reference server: mode={settings.mode} driver={settings.driver} "
            f"db={settings.database} processes={settings.processes}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if published is not None:
            published.unlink(missing_ok=True)


async def _publish_own_address(runner: web.AppRunner, settings: Settings) -> Path:
    """Listen on 127.0.0.1 at a port of this process alone, and write where to the
    metrics folder (`--metrics-dir`): with --processes the shared port reaches one
    process at random, so a scraper that wants every process's counters asks each here.
    The file appears whole (written aside, then renamed)."""
    assert settings.metrics_dir is not None
    own = web.TCPSite(runner, "127.0.0.1", 0)
    await own.start()
    port = runner.addresses[-1][1]  # the last site started
    settings.metrics_dir.mkdir(parents=True, exist_ok=True)
    path = settings.metrics_dir / f"server-{os.getpid()}.json"
    record = {"schema_version": 1, "pid": os.getpid(), "url": f"http://127.0.0.1:{port}/"}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def serve_processes(settings: Settings) -> int:
    """N processes sharing the port with SO_REUSEPORT, as a multi-worker deployment runs.

    The kernel spreads connections over them, so a poll often reaches a process that
    does not run the task: memory-first then falls back to the full DB read (and sees
    only what was checkpointed). The first process (this one) does the start-up work
    and announces the URL; the others are forked before any event loop exists.
    """
    children: list[int] = []
    for _ in range(settings.processes - 1):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                # Let the primary fail interrupted tasks first, then join it on the port.
                time.sleep(0.5)
                asyncio.run(serve(settings, primary=False))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    try:
        asyncio.run(serve(settings, primary=True))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
    except SettingsError as exc:  # a bad MEMDIAG_* default
        print(f"reference_server: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.check and not args.mongo_uri:
        args.mongo_uri = "mongodb://127.0.0.1/"  # never contacted: --check starts nothing
    try:
        settings = settings_from_args(args)
    except (ValueError, ConfigError) as exc:
        print(f"reference_server: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(json.dumps({"mode": settings.mode, "switches": settings.switches.as_dict()}))
        return 0
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.tracemalloc_frames:
        tracemalloc.start(settings.tracemalloc_frames)
    try:
        if settings.processes > 1:
            return serve_processes(settings)
        asyncio.run(serve(settings))
    except OSError as exc:
        print(
            f"reference_server: cannot serve on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
