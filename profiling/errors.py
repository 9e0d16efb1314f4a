"""Errors that carry their exit code, so only `cli.main` turns outcomes into exits.

MemdiagError (3: harness failure)
├── UsageError (2: bad input; the message names the value and the fix)
├── HarnessError (3: a run could not be made or is invalid)
│   └── DatabaseUnavailable (3: no embedded DB and no MongoDB URI)
├── GateFailed (1)
└── Inconclusive (4)
"""

from __future__ import annotations


class MemdiagError(Exception):
    exit_code = 3


class UsageError(MemdiagError):
    exit_code = 2


class HarnessError(MemdiagError):
    exit_code = 3


class DatabaseUnavailable(HarnessError):
    pass


class GateFailed(MemdiagError):
    exit_code = 1


class Inconclusive(MemdiagError):
    exit_code = 4
