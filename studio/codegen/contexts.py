"""Where a network uses each of its blocks: every context (instance values, input shapes), found from the analysis.

An instance runs its block once per repeat, each run in a context: the exposed values and the
shapes and dtypes of its inputs. The context's graph is the block resolved for it, and its
results are what the analysis found inside that run (`NodeResult.inner`); instances inside
blocks are followed the same way. Equal contexts are one, so a block used eight times in four
ways has four.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from studio.graph.blocks import REPEAT, Block
from studio.graph.catalogue.base import Shape, ShapeError
from studio.graph.model import Graph, Node
from studio.graph.params import ParamValueError
from studio.graph.shapes import NodeResult


@dataclass(eq=False)
class Context:
    """One way a block runs: its exposed values, its inputs' shapes and dtypes, the resolved graph and its results."""

    block: Block
    values: dict[str, Any]  # every exposed parameter, defaults filled in (not `repeat`)
    shapes: tuple[Shape, ...]
    dtypes: tuple[str, ...]
    graph: Graph
    results: dict[str, NodeResult]
    probe: bool = False  # not a real use: values changed to find out what depends on them

    def present(self, node_id: str) -> bool:
        """Whether an inner layer runs here (a layer switched off does not)."""
        return node_id in self.graph.nodes


def context_key(block: Block, values: dict[str, Any], shapes: tuple[Shape, ...], dtypes: tuple[str, ...]) -> Hashable:
    """What makes two runs of a block the same."""
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items()))
    return (block.name, frozen, shapes, dtypes)


class Uses:
    """Every context of every block a network uses, each found once, and which ones an instance's repeats run."""

    def __init__(self) -> None:
        self.contexts: dict[str, list[Context]] = {}  # block name -> its distinct contexts, in the order met
        self.blocks: dict[str, Block] = {}
        self._found: dict[Hashable, Context] = {}

    def runs(self, node: Node, result: NodeResult) -> tuple[Context, ...]:
        """The contexts an instance runs, one per repeat (found from its analysis result)."""
        block = node.block
        assert block is not None
        values = {p.name: p.default for p in block.params()} | dict(node.params)
        values.pop(REPEAT.name, None)
        return tuple(self._context(block, values, inner) for inner in result.inner)

    def order(self) -> list[Block]:
        """The blocks used, each after every block it uses."""
        done: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            for node in self.blocks[name].graph.nodes.values():
                if node.type in self.blocks and node.type != name:
                    visit(node.type)
            done.append(name)

        for name in self.blocks:
            visit(name)
        return [self.blocks[name] for name in done]

    def _context(self, block: Block, values: dict[str, Any], results: dict[str, NodeResult]) -> Context:
        inputs = block.input_ids()
        shapes = tuple(_shape(results[i]) for i in inputs)
        dtypes = tuple(results[i].dtype or "float32" for i in inputs)
        key = context_key(block, values, shapes, dtypes)
        found = self._found.get(key)
        if found is not None:
            return found
        graph = block.resolved(values, list(shapes), list(dtypes))
        context = Context(block, values, shapes, dtypes, graph, results)
        self._found[key] = context
        self.blocks[block.name] = block
        self.contexts.setdefault(block.name, []).append(context)
        for node_id, node in graph.nodes.items():
            if node.block is not None:
                self.runs(node, results[node_id])
        return context

    def probe(self, context: Context, name: str, value: Any) -> Context | None:
        """`context` with the exposed parameter `name` set to `value`, or None where the block refuses it."""
        block = context.block
        param = next(p for p in block.params() if p.name == name)
        try:
            value = param.validate(value)
            values = {**context.values, name: value}
            found = block.analyse_instance({**values, REPEAT.name: 1}, list(context.shapes), list(context.dtypes))
        except (ShapeError, ParamValueError, TypeError, ValueError):
            return None
        results = found.inner[0]
        graph = block.resolved(values, list(context.shapes), list(context.dtypes))
        if any(node.block is not None for node in graph.nodes.values()):
            return None  # an instance inside would run in contexts no class was made for
        return Context(block, values, context.shapes, context.dtypes, graph, results, probe=True)


def _shape(result: NodeResult) -> Shape:
    assert result.outputs is not None
    return next(iter(result.outputs.values()))
