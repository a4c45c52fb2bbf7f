"""One class for every use of a block: what differs between its uses becomes a constructor parameter.

A block is used in several contexts (instance values, input shapes). In each one, every inner
layer emits its code; the parts that must read alike (a forward expression, the statements'
targets) are compared, and the arguments of its calls (`Template`) are lined up. An argument
that differs between contexts becomes a parameter of the class, named after the exposed
parameter whose value it is in every context (`channels`), else after the input's channels or
features (`in_channels`), else after the layer and the keyword (`conv1_kernel_size`). Where the
parts that must read alike differ, `unify` gives None and the caller splits the contexts.
Nothing here knows a target's syntax.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from studio.codegen.names import Namespace
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.pytorch_records import Call, size

_KEYWORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(?!=)(.*)", re.DOTALL)


@dataclass(frozen=True)
class Fixed:
    """Text that must read the same in every context (a local name passed to a call)."""

    text: str


@dataclass(frozen=True)
class Label:
    """A Keras layer's name: the instance's prefix goes before it inside a block function."""

    local: str


@dataclass(frozen=True)
class Template:
    """A call whose argument values may differ between contexts; `hints` name its positional arguments."""

    func: str
    args: tuple[tuple[str | None, Value], ...]
    hints: tuple[str, ...] = ()


Value = str | Fixed | Label | Template


def template(call: Call, labels: bool = False) -> Template:
    """`call` with its arguments split into keywords and values; with `labels`, `name="..."` becomes a Label."""
    args: list[tuple[str | None, Value]] = []
    for arg in call.args:
        match = _KEYWORD.fullmatch(arg)
        if match is None:
            args.append((None, arg))
            continue
        key, text = match.groups()
        if labels and key == "name":
            try:
                name = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                name = None
            if isinstance(name, str):
                args.append((key, Label(name)))
                continue
        args.append((key, text))
    return Template(call.func, tuple(args))


@dataclass(frozen=True)
class Piece:
    """One layer of a block in one context: text that must read alike, the calls that may differ, its parameters."""

    fixed: Hashable
    calls: tuple[Template, ...]
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Candidate:
    """A value each context knows that an argument may be: an exposed parameter, or an input's channels."""

    name: str
    values: tuple[Any, ...]  # one per context
    rank: int  # where it goes among the class's parameters
    default: Any = None
    exposed: bool = False  # an exposed parameter: it has a default and may be written per axis (`3` for (3, 3))
    binds: tuple[tuple[str, str], ...] = ()  # the inner (layer, parameter) pairs it sets


@dataclass
class ClassParam:
    """A parameter of a block's class: its text in each context and its default (None: it has none)."""

    name: str
    texts: list[str]
    default: str | None = None
    rank: int = 0  # required ones first, then in the block's order

    def annotation(self) -> str:
        """The type hint its values have: `int`, `bool`, `int | tuple[int, int]`."""
        kinds: list[str] = []
        for text in [*self.texts, *([self.default] if self.default is not None else [])]:
            kind = _kind(text)
            if kind is None:
                return ""
            if kind not in kinds:
                kinds.append(kind)
        if "float" in kinds and "int" in kinds and not any(k.startswith("tuple") for k in kinds):
            kinds.remove("int")
        return " | ".join(kinds)


@dataclass
class Unified:
    """One class serving some contexts: its parameters, and each layer's calls with the differing values named."""

    params: list[ClassParam]
    calls: dict[str, tuple[Template, ...]]  # leaves are final text (a parameter's name or a value), or Labels
    fallbacks: int  # parameters named after a layer: values no exposed parameter or input explains


def unify(
    count: int,
    pieces: Mapping[str, Sequence[Piece | None]],
    candidates: Sequence[Candidate],
    flags: Sequence[Candidate],
    idents: Mapping[str, str],
    names: Namespace,
) -> Unified | None:
    """Line up each layer's pieces over `count` contexts; None where they cannot be one class.

    `candidates` are the exposed parameters, then the inputs' channels and features, in the order
    they are preferred; `flags` the switches that differ, parameters whatever the layers say.
    """
    return _Unifier(count, candidates, flags, idents, names).run(pieces)


class _Unifier:
    def __init__(
        self, count: int, candidates: Sequence[Candidate], flags: Sequence[Candidate], idents: Mapping[str, str], names: Namespace
    ) -> None:
        self.count = count
        self.candidates = list(candidates)
        self.idents = idents
        self.names = names
        self.chosen: dict[str, ClassParam] = {}
        self.forms: dict[str, Callable[[Any], str]] = {}
        self.fallbacks = 0
        for flag in flags:
            self.chosen[flag.name] = ClassParam(flag.name, [literal(v) for v in flag.values], literal(flag.default), flag.rank)

    def run(self, pieces: Mapping[str, Sequence[Piece | None]]) -> Unified | None:
        calls: dict[str, tuple[Template, ...]] = {}
        everywhere = sorted(pieces, key=lambda layer: any(p is None for p in pieces[layer]))  # switched layers last
        for layer in everywhere:
            row = pieces[layer]
            present = [i for i, piece in enumerate(row) if piece is not None]
            if not present:
                continue
            first = row[present[0]]
            assert first is not None
            if any(row[i].fixed != first.fixed or len(row[i].calls) != len(first.calls) for i in present):  # type: ignore[union-attr]
                return None
            found = []
            for index in range(len(first.calls)):
                merged = self._template(layer, [row[i].calls[index] for i in present], [row[i].params for i in present], present, True)  # type: ignore[union-attr]
                if merged is None:
                    return None
                found.append(merged)
            calls[layer] = tuple(found)
        params = sorted(self.chosen.values(), key=lambda p: p.rank)
        return Unified(params, calls, self.fallbacks)

    # ----- lining up -----
    def _template(
        self, layer: str, found: list[Template], params: list[Mapping[str, Any]], present: list[int], top: bool
    ) -> Template | None:
        head = found[0]
        if any(t.func != head.func for t in found):
            return None
        positional = [[v for k, v in t.args if k is None] for t in found]
        if any(len(p) != len(positional[0]) for p in positional):
            return None
        keywords = [{k: v for k, v in t.args if k is not None} for t in found]
        order = _merged_keys([[k for k, _ in t.args if k is not None] for t in found])
        args: list[tuple[str | None, Value]] = []
        for index in range(len(positional[0])):
            hint = head.hints[index] if index < len(head.hints) else ""
            if any(p.count(p[index]) > 1 for p in positional):
                hint = hint or "?"  # two arguments read alike: which parameter each one writes cannot be told
            value = self._value(layer, (None, index, hint), [p[index] for p in positional], params, present, top)
            if value is None:
                return None
            args.append((None, value))
        for key in order:
            values = [kw.get(key) for kw in keywords]
            if any(v is None for v in values):
                if not top:
                    return None
                values = self._filled(key, values, params)
                if values is None:
                    return None
            value = self._value(layer, (key, 0, ""), values, params, present, top)  # type: ignore[arg-type]
            if value is None:
                return None
            args.append((key, value))
        return Template(head.func, tuple(args), head.hints)

    def _value(
        self,
        layer: str,
        where: tuple[str | None, int, str],
        values: list[Value],
        params: list[Mapping[str, Any]],
        present: list[int],
        top: bool,
    ) -> Value | None:
        first = values[0]
        if isinstance(first, Template):
            if not all(isinstance(v, Template) for v in values):
                return None
            return self._template(layer, values, params, present, False)  # type: ignore[arg-type]
        if isinstance(first, (Fixed, Label)):
            if any(v != first for v in values):
                return None
            return first.text if isinstance(first, Fixed) else first
        if not all(isinstance(v, str) for v in values):
            return None
        texts: list[str] = values  # type: ignore[assignment]
        if all(t == texts[0] for t in texts):
            return self._constant(layer, where, texts, params, present) if top else texts[0]
        return self._parameter(layer, where, texts, params if top else [], present)

    def _filled(self, key: str, values: list[Value | None], params: list[Mapping[str, Any]]) -> list[Value] | None:
        """A keyword an emitter left out where it is at its default: its value from the layer parameter it writes."""
        given = [(v, p) for v, p in zip(values, params) if v is not None]
        names = [key] + [n for n in params[0] if n != key and (key.startswith(n) or n.startswith(key))] + [n for n in params[0] if n != key]
        for name in dict.fromkeys(names):
            if not all(name in p for p in params):
                continue
            for form in _FORMS:
                if not all(isinstance(v, str) and v == form(p[name]) for v, p in given):
                    continue
                written = {form(p[name]) for _, p in given}
                missing = [form(p[name]) for v, p in zip(values, params) if v is None]
                if any(text in written for text in missing):
                    continue  # left out at a value it is written at elsewhere: not what decides it
                return [v if v is not None else form(p[name]) for v, p in zip(values, params)]
        return None

    # ----- naming what differs -----
    def _constant(
        self, layer: str, where: tuple[str | None, int, str], texts: list[str], params: list[Mapping[str, Any]], present: list[int]
    ) -> str:
        """A value the same wherever the layer runs: the exposed parameter that sets it, or (for a layer that runs in
        some contexts only) a parameter the class has already whose value it is there; else the value itself."""
        name = where[0] or ("" if where[2] == "?" else _param_named(texts, params))
        found = self._bound(layer, name, texts, present) if name else None
        if found is None and len(present) < self.count:
            ranked = {c.name: i for i, c in enumerate(self.candidates)}
            chosen = sorted((p for p in self.chosen.values() if p.name in ranked), key=lambda p: ranked[p.name])
            found = next((p.name for p in chosen if all(p.texts[i] == t for i, t in zip(present, texts))), None)
        return found or texts[0]

    def _bound(self, layer: str, key: str, texts: list[str], present: list[int]) -> str | None:
        """The exposed parameter that sets this keyword of this layer, where its value is written here."""
        for candidate in self.candidates:
            sets = any(node == layer and (name == key or key.startswith(name) or name.startswith(key)) for node, name in candidate.binds)
            if sets and self._matches(candidate, texts, present):
                return candidate.name
        return None

    def _matches(self, candidate: Candidate, texts: list[str], present: list[int]) -> bool:
        """Whether `texts` are the candidate's values (in its form); the first match fixes its form and makes it a parameter."""
        forms = [self.forms[candidate.name]] if candidate.name in self.forms else _FORMS if candidate.exposed else _FORMS[:1]
        for form in forms:
            if all(text == form(candidate.values[i]) for text, i in zip(texts, present)):
                if candidate.name not in self.chosen:
                    self.forms[candidate.name] = form
                    default = form(candidate.default) if candidate.exposed else None
                    self.chosen[candidate.name] = ClassParam(candidate.name, [form(v) for v in candidate.values], default, candidate.rank)
                return True
        return False

    def _parameter(
        self, layer: str, where: tuple[str | None, int, str], texts: list[str], params: list[Mapping[str, Any]], present: list[int]
    ) -> str | None:
        for candidate in self.candidates:
            if self._matches(candidate, texts, present):
                return candidate.name
        if not all(is_value(text) for text in texts):
            return None  # code, not a value (a Keras Lambda's body): contexts that differ in it need classes of their own
        key, index, hint = where
        name = key or hint.strip("?") or _param_named(texts, params) or f"arg{index + 1}"
        found = self.names.identifier(f"{self.idents[layer]}_{name}")
        spread = dict(zip(present, texts))
        self.chosen[found] = ClassParam(found, [spread.get(i, texts[0]) for i in range(self.count)], None, -1)
        self.fallbacks += 1
        return found


def _literal(value: Any) -> str:
    try:
        return literal(value)
    except TypeError:
        return "\0"  # no literal: matches no argument


def _sized(value: Any) -> str:
    return _literal(size(value)) if isinstance(value, tuple) and value else _literal(value)


_FORMS: list[Callable[[Any], str]] = [_literal, _sized]


def _param_named(texts: list[str], params: list[Mapping[str, Any]]) -> str:
    """The layer parameter a positional argument writes, where one matches it in every context."""
    if not params:
        return ""
    for name in params[0]:
        for form in _FORMS:
            if all(name in p and text == form(p[name]) for text, p in zip(texts, params)):
                return name
    return ""


def _merged_keys(orders: list[list[str]]) -> list[str]:
    """Every keyword in an order each context agrees with: one that some leave out goes after the one before it."""
    merged: list[str] = []
    for keys in sorted(orders, key=len, reverse=True):
        for index, key in enumerate(keys):
            if key in merged:
                continue
            before = next((k for k in reversed(keys[:index]) if k in merged), None)
            merged.insert(merged.index(before) + 1 if before is not None else 0, key)
    return merged


def is_value(text: str) -> bool:
    """Whether an argument is a value (a literal) rather than code."""
    return _kind(text) is not None


def _kind(text: str) -> str | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return _type_of(value)


def _type_of(value: Any) -> str | None:
    if value is None:
        return "None"
    if isinstance(value, (bool, int, float, str)):
        return type(value).__name__
    if isinstance(value, tuple):
        inner = {_type_of(v) for v in value}
        if len(inner) == 1 and None not in inner:
            return f"tuple[{', '.join([inner.pop()] * len(value))}]" if len(value) <= 3 else f"tuple[{inner.pop()}, ...]"
    return None

