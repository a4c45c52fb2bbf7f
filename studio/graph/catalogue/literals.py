"""Python literals for generated code: parameter values written as black writes them, and slices."""

from __future__ import annotations


def literal(value: object) -> str:
    """A Python literal for a parameter value, as black writes it (double-quoted strings)."""
    if isinstance(value, str):
        text = repr(value)
        if "'" not in value and '"' not in value and "\\" not in text:
            return '"' + text[1:-1] + '"'
        return text
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    raise TypeError(f"no literal for {type(value).__name__}")


def slice_subscript(dim: int, rank: int, start: int, length: int) -> str:
    """The subscript that keeps `length` entries (0: all the rest) from `start` along `dim`: `[:, 2:5]`."""
    end = start + length if length else ""
    return "[" + ":, " * (dim % rank) + f"{start}:{end}]"
