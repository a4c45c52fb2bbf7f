"""What a layer family's PyTorch emitter returns: a constructor, a forward expression and helpers, as text.

An emitter gets a `Site` (the node's parameters, input shapes, its attribute and the local names
of its inputs) and returns an `Emitted`. Values are written with `literal`; names arrive
sanitized. The driver (`studio.codegen.pytorch`) lays them out as one nn.Module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.graph.catalogue.base import Shape
from studio.graph.catalogue.literals import literal


@dataclass(frozen=True)
class Call:
    """A call `func(arg, ...)`; args are ready-made source fragments."""

    func: str
    args: tuple[str, ...] = ()

    def text(self) -> str:
        return f"{self.func}({', '.join(self.args)})"


@dataclass(frozen=True)
class Chain:
    """Operands joined by one binary operator: `a + b + c`."""

    op: str
    operands: tuple[str, ...]

    def text(self) -> str:
        return f" {self.op} ".join(self.operands)


@dataclass(frozen=True)
class Raw:
    """Any other short expression (a subscript)."""

    source: str

    def text(self) -> str:
        return self.source


@dataclass(frozen=True)
class Picking:
    """`source[prefix..., [item, ...]]`: entries picked by a list of indices, which may be long."""

    source: str
    prefix: tuple[str, ...]
    items: tuple[str, ...]

    def text(self) -> str:
        return f"{self.source}[{', '.join((*self.prefix, '[' + ', '.join(self.items) + ']'))}]"


Expr = Call | Chain | Raw | Picking


@dataclass(frozen=True)
class Site:
    """One node as its emitter sees it."""

    params: dict[str, Any]
    inputs: tuple[Shape | None, ...]
    attr: str
    args: tuple[str | None, ...]
    reads: tuple[str, ...] = ()  # the output ports something reads, in port order (a layer of several outputs)

    @property
    def x(self) -> str:
        """The local name of the first input."""
        assert self.args[0] is not None
        return self.args[0]

    @property
    def shape(self) -> Shape:
        """The shape of the first input."""
        assert self.inputs[0] is not None
        return self.inputs[0]


@dataclass(frozen=True)
class Emitted:
    """What a node becomes: an attribute's constructor (or None), its forward expression, helpers."""

    module: Call | None
    expr: Expr
    helpers: tuple[str, ...] = ()
    unpack: bool = False  # the call returns (output, extra): assign to `name, _`


def kw(name: str, value: Any) -> str:
    """A keyword argument, the value as a literal."""
    return f"{name}={literal(value)}"


def size(value: tuple[int, ...] | str) -> tuple[int, ...] | int | str:
    """A per-axis size as a person writes it: 3 for (3, 3)."""
    if isinstance(value, tuple) and len(set(value)) == 1:
        return value[0]
    return value


def options(p: dict[str, Any], defaults: dict[str, Any], sizes: tuple[str, ...] = ()) -> list[str]:
    """Keyword arguments for the parameters in `defaults` whose value differs from PyTorch's default."""
    found = []
    for name, default in defaults.items():
        value = size(p[name]) if name in sizes else p[name]
        if value != default:
            found.append(kw(name, value))
    return found


def module(site: Site, cls: str, *args: str) -> Emitted:
    """An attribute `cls(*args)` called on the node's single input."""
    return Emitted(Call(cls, args), Call(site.attr, (site.x,)))


def channels(site: Site) -> str:
    return str(site.shape[1])
