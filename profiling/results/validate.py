"""Typed reading of parsed JSON with errors that name the file and the field.

`Fields(data, where)` wraps one JSON object; its getters check the type of one key and
raise `SchemaError` ("summary.json: runs[2].memory.server.final_bytes: expected an
integer, got 'abc'"), so a hand-edited or truncated file fails with the fix in view
instead of a KeyError deep in a report.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from profiling.errors import HarnessError

T = TypeVar("T")
Scalar = str | int | float | bool


class SchemaError(HarnessError):
    """A stored run or summary does not match its schema (exit 3: the run is unusable)."""


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f"{value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


class Fields:
    """One JSON object being read; `path` is the dotted location inside `where`."""

    __slots__ = ("data", "path", "where")

    def __init__(self, data: object, where: str, path: str = "") -> None:
        if not isinstance(data, dict):
            raise SchemaError(
                f"{where}: {path or 'top level'}: expected an object, got {_kind(data)}"
            )
        self.data: dict[str, Any] = data
        self.where = where
        self.path = path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, expected: str, value: object = ...) -> SchemaError:
        got = "missing" if value is ... else f"got {_kind(value)}"
        return SchemaError(f"{self.where}: field {self._name(key)}: expected {expected}, {got}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, optional: bool) -> Any:
        if key not in self.data or self.data[key] is None:
            if optional:
                return None
            raise self.fail(key, "a value")
        return self.data[key]

    def str_(self, key: str) -> str:
        value = self._get(key, False)
        if not isinstance(value, str):
            raise self.fail(key, "a string", value)
        return value

    def opt_str(self, key: str) -> str | None:
        return None if self._get(key, True) is None else self.str_(key)

    def bool_(self, key: str) -> bool:
        value = self._get(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def int_(self, key: str) -> int:
        value = self._get(key, False)
        if isinstance(value, bool) or not isinstance(value, int):
            # A float that is a whole number is an int written by a careless tool.
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise self.fail(key, "an integer", value)
        return value

    def opt_int(self, key: str) -> int | None:
        return None if self._get(key, True) is None else self.int_(key)

    def float_(self, key: str) -> float:
        value = self._get(key, False)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "a number", value)
        if not math.isfinite(value):
            raise self.fail(key, "a finite number", value)
        return float(value)

    def opt_float(self, key: str) -> float | None:
        return None if self._get(key, True) is None else self.float_(key)

    def count(self, key: str) -> int:
        """A non-negative integer (tasks, polls, bytes)."""
        value = self.int_(key)
        if value < 0:
            raise self.fail(key, "a count (0 or more)", value)
        return value

    def amount(self, key: str) -> float:
        """A non-negative finite number (a duration, a size, a rate)."""
        value = self.float_(key)
        if value < 0:
            raise self.fail(key, "a number >= 0", value)
        return value

    def opt_amount(self, key: str) -> float | None:
        return None if self._get(key, True) is None else self.amount(key)

    def obj(self, key: str) -> Fields:
        return Fields(self._get(key, False), self.where, self._name(key))

    def opt_obj(self, key: str) -> Fields | None:
        return None if self._get(key, True) is None else self.obj(key)

    def objects(self, key: str, *, optional: bool = False) -> list[Fields]:
        value = self._get(key, optional)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "a list", value)
        return [Fields(v, self.where, f"{self._name(key)}[{i}]") for i, v in enumerate(value)]

    def strings(self, key: str, *, optional: bool = True) -> list[str]:
        value = self._get(key, optional)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of strings", value)
        return list(value)

    def mapping(self, key: str, *, optional: bool = True) -> dict[str, Fields]:
        value = self._get(key, optional)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return {k: Fields(v, self.where, f"{self._name(key)}.{k}") for k, v in value.items()}

    def scalars(self, key: str, *, optional: bool = True) -> dict[str, Scalar]:
        value = self._get(key, optional)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        for k, v in value.items():
            if not isinstance(v, str | int | float | bool):
                raise SchemaError(
                    f"{self.where}: field {self._name(key)}.{k}: expected a string, number or "
                    f"boolean, got {_kind(v)}"
                )
        return dict(value)

    def string_map(self, key: str) -> dict[str, str]:
        values = self.scalars(key)
        return {k: str(v) for k, v in values.items()}
