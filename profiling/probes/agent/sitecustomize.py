"""memdiag's bootstrap: starts the memory agent (`memagent.py`) in any Python process
whose PYTHONPATH starts with this folder, with no change to the program.

Python's `site` imports the first `sitecustomize` on sys.path at start-up; memdiag puts
this folder first on the server's PYTHONPATH, so this one runs. It then

- runs the next `sitecustomize` on sys.path (the server's or the distribution's own
  would otherwise be shadowed), under its own name so the import system is undisturbed;
- starts the agent only when `MEMDIAG_AGENT_DIR` is set; without it nothing else happens;
- never breaks the program: an agent error is written once to stderr and the agent
  stays off. An error in the chained `sitecustomize` propagates as it would without us
  (site prints it and goes on).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _chain() -> None:
    """Execute the next sitecustomize on sys.path, if there is one."""

    def other(entry: str) -> bool:
        return os.path.abspath(entry or os.getcwd()) != _HERE

    path = [entry for entry in sys.path if other(entry)]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_memdiag_chained_sitecustomize"] = module
    spec.loader.exec_module(module)


def _start_agent() -> None:
    if not os.environ.get("MEMDIAG_AGENT_DIR"):
        return
    try:
        sys.path.insert(0, _HERE)  # memagent sits beside us, whatever sys.path holds
        try:
            memagent = importlib.import_module("memagent")
        finally:
            sys.path.remove(_HERE)
        memagent.start_from_env()
    except Exception as exc:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"memdiag agent not started in pid {os.getpid()}: {exc!r}\n")


try:
    _chain()
finally:
    _start_agent()
