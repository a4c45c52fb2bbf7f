"""JSON text for project files: sorted keys, a two-space indent, and every array or object that fits in `WIDTH` characters written on one line.

NOTE: so a layer or a wire is one line of the file, not twelve: a diff shows each change on a
line of its own, and a 100,000-layer project is a third of the size. Each value that fits is
written by the json module's C encoder; the json module alone, given an indent, leaves that
encoder for a generator per value (1.8 s of CPU for a 100,000-node project's text).
"""

from __future__ import annotations

import json
import math
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

WIDTH = 100  # the longest line a value is put on when it fits
_MOST_ITEMS = WIDTH // 3  # an array or object of more items than this cannot fit: each takes at least three characters
_LITERALS = {True: "true", False: "false"}


def _no_form(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# the C encoder `json.dumps` makes for each call when given no indent, made once: (markers, default, encoder, indent, key and item separators, sort_keys, skipkeys, allow_nan)
_one_line = c_make_encoder(None, _no_form, encode_basestring, None, ": ", ", ", True, False, False)


class _Unusual(Exception):
    """A value this writer leaves to the json module."""


def dumps_indented(value: Any) -> str:
    """`value` as JSON text, short arrays and objects on one line (ValueError for NaN or infinity, as `allow_nan=False` has it)."""
    parts: list[str] = []
    try:
        _write(value, parts, "\n", 0)
    except _Unusual:
        return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return "".join(parts)


def _write(value: Any, parts: list[str], newline: str, column: int) -> None:
    """Append `value`'s text; `newline` is a line break and the indent of the line `value` starts on, at `column`."""
    if isinstance(value, str):
        parts.append(encode_basestring(value))
    elif value is None:
        parts.append("null")
    elif value is True or value is False:
        parts.append(_LITERALS[value])
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")
        parts.append(float.__repr__(value))
    elif isinstance(value, (dict, list, tuple)):
        if not value:
            parts.append("{}" if isinstance(value, dict) else "[]")
        elif len(value) <= _MOST_ITEMS and _fits(value, parts, WIDTH - column - 1):
            return
        elif isinstance(value, dict):
            _write_object(value, parts, newline)
        else:
            _write_array(value, parts, newline)
    else:
        raise _Unusual


def _fits(value: dict | list | tuple, parts: list[str], room: int) -> bool:
    """Append `value` on one line and return True, if its text fits in `room` characters."""
    try:
        text = "".join(_one_line(value, 0))
    except TypeError:  # a key that does not sort, or a type JSON has no form for
        raise _Unusual from None
    if len(text) > room:
        return False
    parts.append(text)
    return True


def _write_object(value: dict, parts: list[str], newline: str) -> None:
    if not all(isinstance(key, str) for key in value):
        raise _Unusual
    inner = newline + "  "
    separator = "{"
    for key in sorted(value):
        label = encode_basestring(key) + ": "
        parts.append(separator + inner + label)
        _write(value[key], parts, inner, len(inner) - 1 + len(label))
        separator = ","
    parts.append(newline + "}")


def _write_array(value: list | tuple, parts: list[str], newline: str) -> None:
    inner = newline + "  "
    separator = "["
    for item in value:
        parts.append(separator + inner)
        _write(item, parts, inner, len(inner) - 1)
        separator = ","
    parts.append(newline + "]")
