"""Read JSON-lines input line by line, so one bad line never stops the rest."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Line:
    """One input line: its number and either an object or an error message."""

    number: int
    item: dict[str, Any] | None
    error: str | None = None


def read_items(lines: Iterable[str]) -> Iterator[Line]:
    """Yield each non-blank line as an object, or as an error naming the problem."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            yield Line(number, None, f"invalid JSON ({err.msg} at column {err.colno})")
            continue
        if not isinstance(value, dict):
            yield Line(number, None, f"expected a JSON object, got {type(value).__name__}")
            continue
        yield Line(number, value)


def text_field(item: dict[str, Any], key: str) -> str:
    """A string field, tolerating null or missing values."""
    value = item.get(key)
    return value if isinstance(value, str) else ""
