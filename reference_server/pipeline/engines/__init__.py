"""Transcription engines by name, imported lazily so a missing extra costs nothing until used.

Each entry is `module:factory`; a factory takes `EngineSettings` and returns an `Engine`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from reference_server.pipeline.engines.base import Engine, EngineError, EngineSettings

_FACTORIES: dict[str, str] = {
    "synthetic": "reference_server.pipeline.engines.synthetic:create",
    "faster-whisper": "reference_server.pipeline.engines.fasterwhisper_engine:create",
    "openai-whisper": "reference_server.pipeline.engines.openaiwhisper_engine:create",
}

ENGINE_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def create_engine(name: str, settings: EngineSettings) -> Engine:
    try:
        target = _FACTORIES[name]
    except KeyError:
        raise EngineError(
            f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}"
        ) from None
    module_name, factory_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise EngineError(f"engine {name!r} is not available: {exc}") from exc
    factory = cast(Callable[[EngineSettings], Engine], getattr(module, factory_name))
    return factory(settings)
