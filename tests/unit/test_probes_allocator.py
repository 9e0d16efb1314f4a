"""Allocator start-up environments: MALLOC_ARENA_MAX and a preloaded jemalloc."""

from __future__ import annotations

import subprocess
import sys

import pytest

from profiling.errors import HarnessError
from profiling.probes.allocator import (
    AllocatorChoice,
    active_allocator,
    allocator_env,
    find_jemalloc,
    parse_choice,
)


def test_parse_choice() -> None:
    assert parse_choice("glibc") == AllocatorChoice()
    assert parse_choice(" JEMALLOC ").kind == "jemalloc"
    assert parse_choice("arenas=2") == AllocatorChoice("glibc", 2)
    assert parse_choice("arenas=2").name == "glibc-arenas2"
    for bad in ("tcmalloc", "arenas=0", "arenas=x"):
        with pytest.raises(ValueError, match="glibc, jemalloc or arenas=N"):
            parse_choice(bad)


def test_arena_env() -> None:
    env = allocator_env(parse_choice("arenas=2"), {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "MALLOC_ARENA_MAX": "2"}
    assert "MALLOC_ARENA_MAX" not in allocator_env(AllocatorChoice(), {})


def test_missing_jemalloc_gives_clear_error(tmp_path: object) -> None:
    with pytest.raises(HarnessError, match="apt-get install libjemalloc2"):
        find_jemalloc({"MEMDIAG_JEMALLOC": "/nonexistent/libjemalloc.so.2"})


def test_jemalloc_preload_is_active_in_child() -> None:
    try:
        find_jemalloc()
    except HarnessError as exc:  # CI installs libjemalloc2 (.ci/run); a dev box may not
        pytest.skip(str(exc))
    env = allocator_env(parse_choice("jemalloc"), {"LD_PRELOAD": "", "PATH": "/usr/bin:/bin"})
    assert env["LD_PRELOAD"].endswith("libjemalloc.so.2")
    assert allocator_in_child(env) == "jemalloc"
    assert allocator_in_child(None) == "glibc"


def allocator_in_child(env: dict[str, str] | None) -> str:
    # The child says it is up before we look, so the loader has mapped its libraries.
    code = "import sys; print('up', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        try:
            child.stdout.readline()
            return active_allocator(child.pid)
        finally:
            child.communicate(b"")
