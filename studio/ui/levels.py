"""Levels of the editor: the network, or a block opened inside it, and the analysis shown there.

NOTE: a block opened through an instance is analysed as that instance runs it (its exposed
values and input shapes, first repeat), so the shapes inside match the card it was opened from;
a block opened on its own runs with its defaults on the shapes its Inputs hold. Layers switched
off by an exposed parameter have no result there and are listed in `LevelAnalysis.switched_off`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.graph.blocks import Block
from studio.graph.catalogue.base import Shape, ShapeError
from studio.graph.model import Event, Graph, GraphError, NodeMoved
from studio.graph.shapes import (
    Diagnostic,
    NodeResult,
    ShapeAnalysis,
    Summary,
    snapshot_analysis,
)


@dataclass(frozen=True)
class Level:
    """One open block: its name, and the instance in the level above it was opened through (None: on its own)."""

    block: str
    instance: str | None = None


@dataclass(frozen=True)
class Context:
    """How an instance runs its block: the parameters it sets, its input shapes and their dtypes."""

    values: dict[str, Any]
    shapes: list[Shape | None] | None
    dtypes: list[str] | None


def ran_graph(analysis: ShapeAnalysis | LevelAnalysis) -> Graph:
    """The graph an analysis ran on: a level's resolved graph (exposed values applied), else the graph itself."""
    return analysis.resolved if isinstance(analysis, LevelAnalysis) else analysis.graph


def instance_context(analysis: ShapeAnalysis | LevelAnalysis, node_id: str) -> Context | None:
    """The context of instance `node_id` as `analysis` (the level holding it) sees it; None if it is not there."""
    graph = ran_graph(analysis)
    node = graph.nodes.get(node_id)
    if node is None or node.block is None:
        return None
    results = analysis.results()
    result = results.get(node_id)
    if result is None or any(s is None for s in result.inputs):
        return Context(dict(node.params), None, None)
    dtypes = []
    for port in node.spec.input_ports(node.params):
        edge = graph.source_of(node_id, port.name)
        source = results.get(edge.src) if edge is not None else None
        dtypes.append((source.dtype if source is not None else None) or "float32")
    return Context(dict(node.params), list(result.inputs), dtypes)


def run_block(block: Block, context: Context | None) -> Graph:
    """The block's inner graph as `context` runs it (its defaults and stored Input shapes where the context fails)."""
    if context is not None:
        try:
            return block.resolved(context.values, context.shapes, context.dtypes)
        except (ShapeError, GraphError):
            try:
                return block.resolved(context.values)
            except (ShapeError, GraphError):
                pass
    return block.resolved({})


class LevelAnalysis:
    """The analysis of an open block's inner graph in its context; the views read it like a `ShapeAnalysis`."""

    def __init__(self, block: Block, parent: ShapeAnalysis | LevelAnalysis | None = None, instance: str | None = None) -> None:
        self.block, self.graph = block, block.graph
        self.parent, self.instance = parent, instance
        self.resolved: Graph = block.graph
        self.switched_off: set[str] = set()
        self._snapshot: ShapeAnalysis | None = None
        self._dirty = True
        self._recomputed: set[str] = set()
        self.graph.subscribe(self._on_event)
        if self.graph.library is not None:
            self.graph.library.subscribe(self._on_blocks_changed)

    def close(self) -> None:
        """Stop following the block."""
        self.graph.unsubscribe(self._on_event)
        if self.graph.library is not None:
            self.graph.library.unsubscribe(self._on_blocks_changed)

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, NodeMoved):
            self._dirty = True

    def _on_blocks_changed(self, _event: Any) -> None:
        self._dirty = True

    def invalidate(self) -> None:
        """Analyse again at the next look (the level above changed)."""
        self._dirty = True

    def context(self) -> Context | None:
        """How the instance this level was opened through runs the block (None: opened on its own)."""
        if self.parent is None or self.instance is None:
            return None
        return instance_context(self.parent, self.instance)

    def refresh(self) -> set[str]:
        """Analyse again if the block or its context changed; return the ids recomputed (all of them)."""
        if not self._dirty and self._snapshot is not None:
            return set()
        self._dirty = False
        self.resolved = run_block(self.block, self.context())
        self._snapshot = snapshot_analysis(self.resolved)
        self.switched_off = set(self.graph.nodes) - set(self.resolved.nodes)
        done = set(self.graph.nodes)
        self._recomputed |= done
        return done

    def take_recomputed(self) -> set[str]:
        """Ids recomputed since the last call."""
        taken, self._recomputed = self._recomputed, set()
        return {n for n in taken if n in self.graph.nodes}

    def _current(self) -> ShapeAnalysis:
        self.refresh()
        assert self._snapshot is not None
        return self._snapshot

    def result(self, node_id: str) -> NodeResult:
        """One inner layer's result (no shapes for a layer switched off)."""
        return self.results()[node_id]

    def results(self) -> dict[str, NodeResult]:
        """Every inner layer's result, switched-off ones included (empty)."""
        found = dict(self._current().results())
        for node_id in self.switched_off:
            node = self.graph.nodes[node_id]
            found[node_id] = NodeResult(tuple(None for _ in node.spec.input_ports(node.params)), None, None)
        return {n: found[n] for n in self.graph.nodes if n in found}

    def wiring_problem(self, node_id: str, feeds: dict[str, tuple[str, str]]) -> str | None:
        """As `ShapeAnalysis.wiring_problem`, inside the block as the instance runs it (None for a layer switched off)."""
        current = self._current()
        return current.wiring_problem(node_id, feeds) if node_id in current.graph else None

    def ordered_ids(self) -> list[str]:
        """Inner layer ids in the order data flows, switched-off ones last."""
        return [*self._current().ordered_ids(), *sorted(self.switched_off)]

    def diagnostics(self) -> list[Diagnostic]:
        """The problems inside the block as it runs here."""
        return self._current().diagnostics()

    def summary(self) -> Summary:
        """The block's totals as it runs here (one repeat)."""
        return self._current().summary()

    @property
    def is_valid(self) -> bool:
        """True when nothing inside is an error."""
        return self._current().is_valid


class LevelStack:
    """The levels open in the editor, from the network down, each with its analysis."""

    def __init__(self, network: ShapeAnalysis) -> None:
        self.network = network
        self.levels: list[Level] = []
        self.analyses: list[LevelAnalysis] = []

    @property
    def graph(self) -> Graph:
        """The graph of the deepest open level."""
        return self.analyses[-1].graph if self.analyses else self.network.graph

    @property
    def analysis(self) -> ShapeAnalysis | LevelAnalysis:
        """The analysis of the deepest open level."""
        return self.analyses[-1] if self.analyses else self.network

    def set(self, levels: list[Level]) -> None:
        """Open exactly these levels (a block missing from the library ends the path above it)."""
        self.close()
        library = self.network.graph.library
        parent: ShapeAnalysis | LevelAnalysis = self.network
        for level in levels:
            block = library.get(level.block) if library is not None else None
            if block is None:
                break
            graph = ran_graph(parent)
            instance = level.instance if level.instance in graph.nodes and graph.nodes[level.instance].type == level.block else None
            analysis = LevelAnalysis(block, parent, instance)
            self.levels.append(Level(level.block, instance))
            self.analyses.append(analysis)
            parent = analysis

    def close(self) -> None:
        """Close every level (the network stays)."""
        for analysis in self.analyses:
            analysis.close()
        self.levels, self.analyses = [], []

    def refresh(self) -> None:
        """Bring every open level up to date, the level above first (it is the context of the next)."""
        self.network.refresh()
        for analysis in self.analyses:
            analysis.invalidate()  # a level above may have changed the context
        for analysis in self.analyses:
            analysis.refresh()

    def path_to(self, graph: Graph) -> list[Level] | None:
        """Levels that show `graph`: a prefix of the open ones, else through the first instance found from the network."""
        if graph is self.network.graph:
            return []
        for depth, analysis in enumerate(self.analyses):
            if analysis.graph is graph:
                return self.levels[: depth + 1]
        library = self.network.graph.library
        block = library.get(graph.owner) if library is not None and graph.owner else None
        if block is None or block.graph is not graph:
            return None
        return _chain_to(self.network.graph, block.name, set()) or [Level(block.name)]


def _chain_to(graph: Graph, name: str, seen: set[str]) -> list[Level] | None:
    """The first chain of instances from `graph` down to an instance of block `name`."""
    for node in graph.nodes.values():
        if node.block is None:
            continue
        if node.type == name:
            return [Level(name, node.id)]
        if node.type not in seen:
            seen.add(node.type)
            below = _chain_to(node.block.graph, name, seen)
            if below is not None:
                return [Level(node.type, node.id), *below]
    return None


@dataclass(frozen=True)
class InnerProblem:
    """A problem inside an instance: the inner layers' ids and names from the instance down, and the diagnostic."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    diagnostic: Diagnostic


def inner_problems(analysis: ShapeAnalysis | LevelAnalysis, node_id: str, depth: int = 8) -> list[InnerProblem]:
    """The errors inside instance `node_id` that make it fail, pinned to the inner layers (through nested instances)."""
    graph = ran_graph(analysis)
    node = graph.nodes.get(node_id)
    context = instance_context(analysis, node_id)
    if node is None or node.block is None or context is None or context.shapes is None or depth <= 0:
        return []
    block = node.block
    for _ in range(max(1, int(context.values.get("repeat", 1)))):
        inner = snapshot_analysis(run_block(block, context))
        errors = [d for d in inner.diagnostics() if d.severity == "error" and d.node_id is not None]
        if errors:
            found: list[InnerProblem] = []
            for d in errors:
                below = inner_problems(inner, d.node_id, depth - 1) if inner.graph.nodes[d.node_id].block is not None else []
                name = inner.graph.nodes[d.node_id].name
                found += [InnerProblem((d.node_id, *b.ids), (name, *b.names), b.diagnostic) for b in below] or [InnerProblem((d.node_id,), (name,), d)]
            return found
        results = inner.results()
        ends = [results.get(n) for n in block.output_ids()]
        if any(end is None or not end.inputs or end.inputs[0] is None for end in ends):
            return []
        shapes = [end.inputs[0] for end in ends if end is not None]
        context = Context(context.values, shapes, context.dtypes[: len(shapes)] if context.dtypes else None)
    return []
