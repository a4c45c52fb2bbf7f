"""Automatic layer names: the type in lower case with a counter (conv1, relu2, maxpool1), as the examples name layers."""

from __future__ import annotations

import re
from collections import Counter

_DIMENSION = re.compile(r"(?<=[A-Za-z])[123]d$", re.IGNORECASE)


def name_stem(layer_type: str) -> str:
    """The lower-case word a type's layers are named after: Conv2d -> conv, MaxPool2d -> maxpool, ReLU6 -> relu6."""
    stem = re.sub(r"[^0-9A-Za-z_]+", "", _DIMENSION.sub("", layer_type)).lower()
    return stem or "layer"


def counter_head(stem: str) -> str:
    """What precedes the counter: the stem, with `_` after one that ends in a digit (relu6_1, not relu61)."""
    return f"{stem}_" if stem[-1:].isdigit() else stem


def split_number(name: str) -> tuple[str, int] | None:
    """A name's text before its trailing number, and the number (conv12 -> ('conv', 12)); None without one."""
    head = name.rstrip("0123456789")
    return (head, int(name[len(head) :])) if len(head) < len(name) else None


class NameCounters:
    """The numbers the names of a graph end in, by the text before them, so a new name takes the next one in O(1)."""

    def __init__(self) -> None:
        self._taken: dict[str, Counter[int]] = {}
        self._highest: dict[str, int] = {}

    def add(self, name: str) -> None:
        """Count a name now in use."""
        split = split_number(name)
        if split is None:
            return
        head, number = split
        self._taken.setdefault(head, Counter())[number] += 1
        if number > self._highest.get(head, 0):
            self._highest[head] = number

    def remove(self, name: str) -> None:
        """Forget a name no longer in use (the next name can take its number again if it was the highest)."""
        split = split_number(name)
        taken = self._taken.get(split[0]) if split else None
        if split is None or taken is None:
            return
        head, number = split
        taken[number] -= 1
        if taken[number] <= 0:
            del taken[number]
            if number == self._highest.get(head):
                self._highest[head] = max(taken, default=0)

    def next_name(self, layer_type: str) -> str:
        """The automatic name of a new layer of this type: its stem and one more than the highest number after it."""
        head = counter_head(name_stem(layer_type))
        return f"{head}{self._highest.get(head, 0) + 1}"

    def continued(self, name: str) -> str:
        """A free name like `name` that keeps counting (conv1 -> conv3 when conv2 is the highest); `name` if it has no number."""
        split = split_number(name)
        if split is None:
            return name
        head = split[0]
        return f"{head}{self._highest.get(head, 0) + 1}"
