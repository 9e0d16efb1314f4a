"""python -m reference_server: parse settings, serve, print the base URL once listening."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tracemalloc
from collections.abc import Sequence

from aiohttp import web

from reference_server.app import create_app
from reference_server.modes import ConfigError
from reference_server.settings import Settings, build_parser, settings_from_args


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.processes > 1)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"http://{host}:{port}/", flush=True)
    print(
        f"memdiag reference server: mode={settings.mode} driver={settings.driver} "
        f"db={settings.database}; Ctrl-C stops it",
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except (ValueError, ConfigError) as exc:
        print(f"reference_server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.tracemalloc_frames:
        tracemalloc.start(settings.tracemalloc_frames)
    try:
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
