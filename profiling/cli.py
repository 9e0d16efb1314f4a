"""The `memdiag` command: one `main(argv) -> int`; subcommands live in profiling/commands/.

Nothing below `main` calls `sys.exit`: commands return an exit code or raise a
`MemdiagError` that carries one, and `main` prints its one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType

from profiling.commands import COMMANDS
from profiling.errors import ExitCode, MemdiagError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memdiag",
        description="Memory-regression lab for Python web backends polled by their frontends.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"profiling.commands.{name.replace('-', '_')}")
        # A pass-through command hands every argument, --help included, to the
        # program it starts (memdiag serve -> python -m reference_server).
        passthrough = getattr(module, "PASSTHROUGH", False)
        cmd = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            add_help=not passthrough,
        )
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run, _passthrough=passthrough)
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _stopped_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end a command as Ctrl-C does: its servers, DB and load are
    stopped and the finished runs reported. Without this a CI job's cancel (SIGTERM)
    killed memdiag alone and left the server and Locust running, orphaned. A signal
    the caller set to be ignored (nohup) stays ignored; the handlers are restored after,
    as `main` also runs inside other programs (tests)."""
    saved: dict[signal.Signals, object] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) is signal.SIG_DFL:
                saved[sig] = signal.signal(sig, _interrupt)
        except ValueError:  # not the main thread: signals are not ours to take
            break
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "_passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.extra = extra
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    try:
        with _stopped_as_interrupt():
            return int(args._run(args))
    except MemdiagError as exc:
        print(f"memdiag {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"memdiag {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
