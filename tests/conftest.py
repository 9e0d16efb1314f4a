"""Shared fixtures: the real embedded MongoDB-compatible DB and the real reference server.

A test that needs the DB never skips: if the DB cannot start, the fixture fails and
says why. MEMDIAG_MONGO_URI points the whole suite at another MongoDB server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from profiling.embedded_db import EmbeddedDB
from profiling.errors import MemdiagError


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    if uri := os.environ.get("MEMDIAG_MONGO_URI"):
        yield uri
        return
    db = EmbeddedDB()
    try:
        db.start()
    except MemdiagError as exc:
        pytest.fail(f"embedded DB could not start: {exc}", pytrace=False)
    try:
        yield db.uri
    finally:
        db.stop()


@pytest.fixture
def database_name() -> str:
    """A fresh database per test, so tests never see each other's tasks."""
    return "t_" + uuid.uuid4().hex[:12]
