"""Typed layer parameters: what a value may be, its default, its range and its help text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KINDS = ("int", "float", "bool", "choice", "tuple", "floats")
MAX_FLOATS = 4096  # values in one `floats` parameter (per-feature statistics of a wide input)


class ParamValueError(ValueError):
    """A value that the parameter's spec does not allow; the message says what would be valid."""


@dataclass(frozen=True)
class Param:
    """One typed parameter of a layer type.

    `tuple` parameters hold integers; `length` fixes how many (None: any number, at least
    `min_length`), a single integer is expanded to `length` copies (or one item), and `words` lists string
    values accepted instead of a tuple (such as ``"same"`` for a convolution's padding). `floats`
    parameters hold any number of real values (none at all included), each within min and max.
    """

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    length: int | None = None
    min_length: int = 1
    words: tuple[str, ...] = ()
    allow_minus_one: bool = False
    max_length: int = 16  # the most integers a tuple holds (indices picked may be many more than a shape's)
    special: str = ""  # what the minimum value of an int means, shown in its place ("to the end")

    def describe(self) -> str:
        """Say in words what values are valid, for error messages and tooltips."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        bounds = _describe_bounds(self.min, self.max)
        if self.kind == "floats":
            return f"a list of up to {MAX_FLOATS} numbers{bounds}, or none"
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            special = f" ({_num(self.min)}: {self.special})" if self.special and self.min is not None else ""
            return f"{noun}{bounds}{special}"
        if self.length:
            text = f"an integer or {self.length} integers{bounds}"
        elif self.min_length > 1:
            text = f"at least {self.min_length} integers{bounds}"
        else:
            text = f"one or more integers{bounds}"
        if self.allow_minus_one:
            text += " (one may be -1)"
        if self.words:
            text += " or " + " or ".join(repr(w) for w in self.words)
        return text

    def validate(self, value: Any) -> Any:
        """Return the value in its canonical form, or raise ParamValueError saying what is valid."""
        checker = _CHECKERS[self.kind]
        result = checker(self, value)
        if result is None:
            raise ParamValueError(f"'{self.name}' must be {self.describe()}, not {_show(value)}")
        return result

    def to_json(self) -> Any:
        """Return the default as a JSON value (tuples become lists)."""
        return list(self.default) if isinstance(self.default, tuple) else self.default

    def as_dict(self) -> dict[str, Any]:
        """Describe the parameter as a JSON-ready dict for `layer-studio layers --json`."""
        info: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.to_json(), "help": self.help}
        if self.min is not None:
            info["min"] = self.min
        if self.max is not None:
            info["max"] = self.max
        if self.choices:
            info["choices"] = list(self.choices)
        if self.special:
            info["special"] = self.special
        if self.kind == "tuple":
            info["length"] = self.length
            if self.words:
                info["words"] = list(self.words)
        return info


def _describe_bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {_num(low)} to {_num(high)}"
    if low is not None:
        return f" of at least {_num(low)}"
    if high is not None:
        return f" of at most {_num(high)}"
    return ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        return "a huge number"
    return text if len(text) <= 40 else text[:37] + "..."


def _in_range(spec: Param, x: float) -> bool:
    return (spec.min is None or x >= spec.min) and (spec.max is None or x <= spec.max)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return None


def _check_int(spec: Param, value: Any) -> int | None:
    x = _as_int(value)
    return x if x is not None and _in_range(spec, x) else None


def _check_float(spec: Param, value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        x = float(value)
    except OverflowError:
        return None
    return x if math.isfinite(x) and _in_range(spec, x) else None


def _check_bool(spec: Param, value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _check_choice(spec: Param, value: Any) -> str | None:
    return value if isinstance(value, str) and value in spec.choices else None


def _check_tuple(spec: Param, value: Any) -> tuple[int, ...] | str | None:
    if isinstance(value, str):
        return value if value in spec.words else None
    if _as_int(value) is not None:
        value = [value] * (spec.length or 1)
    if not isinstance(value, (list, tuple)):
        return None
    items = [_as_int(v) for v in value]
    if any(v is None for v in items):
        return None
    if spec.length is not None and len(items) != spec.length:
        return None
    if len(items) < spec.min_length or len(items) > spec.max_length:
        return None
    minus_ones = sum(1 for v in items if v == -1) if spec.allow_minus_one else 0
    if minus_ones > 1:
        return None
    if not all((spec.allow_minus_one and v == -1) or _in_range(spec, v) for v in items):
        return None
    return tuple(items)  # type: ignore[arg-type]


def _check_floats(spec: Param, value: Any) -> tuple[float, ...] | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) > MAX_FLOATS:
        return None
    items = [_check_float(spec, v) for v in value]
    return None if any(v is None for v in items) else tuple(items)  # type: ignore[arg-type]


_CHECKERS = {
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "choice": _check_choice,
    "tuple": _check_tuple,
    "floats": _check_floats,
}


def Int(
    name: str, default: int, help: str, min: int | None = None, max: int | None = None, special: str = ""
) -> Param:
    """An integer parameter; `special` says what its minimum means, if that is not a plain number."""
    return Param(name, "int", default, help, min=min, max=max, special=special)


def Float(name: str, default: float, help: str, min: float | None = None, max: float | None = None) -> Param:
    """A real-valued parameter."""
    return Param(name, "float", float(default), help, min=min, max=max)


def Bool(name: str, default: bool, help: str) -> Param:
    """A true/false parameter."""
    return Param(name, "bool", default, help)


def Choice(name: str, default: str, choices: tuple[str, ...], help: str) -> Param:
    """A parameter that takes one of a few named values."""
    return Param(name, "choice", default, help, choices=choices)


def Ints(
    name: str,
    default: tuple[int, ...] | str,
    help: str,
    length: int | None = None,
    min: int | None = None,
    max: int | None = None,
    words: tuple[str, ...] = (),
    min_length: int = 1,
    allow_minus_one: bool = False,
    max_length: int = 16,
) -> Param:
    """A tuple-of-integers parameter (a kernel size, a shape), optionally also accepting words."""
    return Param(
        name,
        "tuple",
        default,
        help,
        min=min,
        max=max,
        length=length,
        words=words,
        min_length=min_length,
        allow_minus_one=allow_minus_one,
        max_length=max_length,
    )


def Floats(
    name: str, help: str, min: float | None = None, max: float | None = None, default: tuple[float, ...] = ()
) -> Param:
    """A list of real values, empty by default (such as per-channel statistics, or a bound that may be off)."""
    return Param(name, "floats", tuple(float(v) for v in default), help, min=min, max=max)
