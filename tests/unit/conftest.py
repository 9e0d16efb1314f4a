"""Unit-test helpers: golden files under tests/unit/golden/, refreshed with --update-golden.

`pytest --update-golden` (the option lives in tests/conftest.py), or
MEMDIAG_UPDATE_GOLDEN=1, rewrites the golden files instead of comparing; review the diff
before committing it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
FIXTURE_RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def _updating(config: pytest.Config) -> bool:
    return bool(config.getoption("update_golden", default=False)) or (
        os.environ.get("MEMDIAG_UPDATE_GOLDEN") == "1"
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """golden(name, text): assert text equals tests/unit/golden/<name> (or rewrite it)."""
    updating = _updating(request.config)

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if updating:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.is_file():
            pytest.fail(f"golden file {path} is missing; run: pytest tests/unit --update-golden")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from {path}; if intended: --update-golden"

    return check


@pytest.fixture
def fixture_runs() -> Path:
    """tests/fixtures/runs: synthetic run folders written by make_fixtures.py."""
    return FIXTURE_RUNS
