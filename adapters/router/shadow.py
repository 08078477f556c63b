"""Shadow comparison: do legacy and modern give the same answer to the same read?

JSON bodies are compared as data, not text: keys sorted, numbers normalised (``1``,
``1.0`` and ``1.00`` are equal, since two stacks rarely print numbers alike), and the
plan's ignorable paths (timestamps, request ids) removed first. Anything else is
compared byte for byte. The status code is part of the answer.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_TOKEN = re.compile(r"\[(\*|\d+)\]|([^.\[\]]+)")

IgnorePath = tuple[str | int, ...]
"""One ignorable path: keys, item indexes, and ``"*"`` for every key or item."""


def parse_ignore_path(path: str) -> IgnorePath:
    """``items[*].etag`` → ``("items", "*", "etag")``; a leading ``$.`` is allowed."""
    text = path.removeprefix("$").lstrip(".")
    parts: list[str | int] = []
    for index, key in _TOKEN.findall(text):
        if index:
            parts.append("*" if index == "*" else int(index))
        else:
            parts.append(key)
    return tuple(parts)


def _remove(value: Any, path: IgnorePath) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        keys = list(value) if head == "*" else [head] if head in value else []
        for key in keys:
            if rest:
                _remove(value[key], rest)
            else:
                del value[key]
    elif isinstance(value, list):
        if head == "*":
            indexes = range(len(value))
        elif isinstance(head, int) and head < len(value):
            indexes = range(head, head + 1)
        else:
            return
        if rest:
            for i in indexes:
                _remove(value[i], rest)
        else:
            for i in sorted(indexes, reverse=True):
                del value[i]


def _normalise(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        try:
            number = Decimal(str(value)).normalize()
        except InvalidOperation:
            return str(value)
        # Decimal("1E+1") and Decimal("10") print differently; compare a canonical form.
        return format(number, "f") if number == number.to_integral() else str(number)
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    return value


def normalised_json(body: bytes, ignore: list[IgnorePath]) -> str | None:
    """The canonical text of a JSON body with ignorable paths removed; None if not JSON."""
    try:
        data = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None
    for path in ignore:
        _remove(data, path)
    return json.dumps(_normalise(data), sort_keys=True, separators=(",", ":"))


def same_answer(
    primary: tuple[int, bytes], shadow: tuple[int, bytes], ignore: list[IgnorePath]
) -> bool:
    """Whether two answers (status, body) to one read are the same, as the plan sees it."""
    if primary[0] != shadow[0]:
        return False
    if primary[1] == shadow[1]:
        return True
    left = normalised_json(primary[1], ignore)
    right = normalised_json(shadow[1], ignore)
    return left is not None and left == right
