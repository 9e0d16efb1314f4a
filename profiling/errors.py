"""Exit codes, and the errors that carry them, so only `cli.main` turns outcomes into exits.

MemdiagError (3: harness failure)
├── UsageError (2: bad input; the message names the value and the fix)
├── HarnessError (3: a run could not be made or is invalid)
│   └── DatabaseUnavailable (3: no embedded DB and no MongoDB URI)
├── GateFailed (1)
└── Inconclusive (4)
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code a memdiag command returns."""

    OK = 0
    FAILED = 1  # a gate threshold violated, or a regression
    USAGE = 2  # bad input: a one-line message names the value and the fix
    INVALID = 3  # a run invalid, work not comparable, or a harness failure
    INCONCLUSIVE = 4  # more repeats would decide
    CANNOT_TEST = 125  # `git bisect run`: skip this commit (memdiag check)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
    ABORT = 255  # `git bisect run`: stop the bisect (memdiag check's usage errors)


class MemdiagError(Exception):
    exit_code = ExitCode.INVALID


class UsageError(MemdiagError):
    exit_code = ExitCode.USAGE


class HarnessError(MemdiagError):
    exit_code = ExitCode.INVALID


class DatabaseUnavailable(HarnessError):
    pass


class GateFailed(MemdiagError):
    exit_code = ExitCode.FAILED


class Inconclusive(MemdiagError):
    exit_code = ExitCode.INCONCLUSIVE
