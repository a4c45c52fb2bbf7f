"""Live shape analysis: output shapes, parameter counts, MACs and diagnostics for every node.

The analysis follows the graph's events and recomputes only what an edit can change: the
edited node, then its successors while their inputs keep changing (a parameter edit that
leaves the output shape alone stops right there).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from studio.graph.bulk import collector_paused
from studio.graph.catalogue import ShapeError
from studio.graph.catalogue.base import (
    Folded,
    Shape,
    numel,
    plain_batch,
    show,
)
from studio.graph.model import (
    EdgeAdded,
    EdgeRemoved,
    Event,
    Graph,
    Node,
    NodeAdded,
    NodeMoved,
    NodeRemoved,
    NodeRenamed,
    ParamChanged,
)

CYCLE_NAMES_SHOWN = 20  # a cycle's message lists this many of its layers, then how many more


@dataclass(frozen=True)
class Diagnostic:
    """A problem pinned to a node (or to the whole graph when `node_id` is None)."""

    node_id: str | None
    severity: str
    message: str
    hint: str = ""

    @property
    def text(self) -> str:
        """The message and its hint as one sentence."""
        return f"{self.message}: {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class NodeResult:
    """What the analysis knows about one node; `outputs` is None when they cannot be known."""

    inputs: tuple[Shape | None, ...]
    outputs: dict[str, Shape] | None
    dtype: str | None
    params: int = 0
    buffers: int = 0
    macs: int = 0
    diagnostics: tuple[Diagnostic, ...] = ()
    inner: tuple[dict[str, NodeResult], ...] = ()  # a block instance: its inner layers' results, one dict per repeat
    inner_activations: int = 0  # a block instance: elements of its inner layers' outputs per sample


@dataclass(frozen=True)
class Summary:
    """Totals over the graph."""

    total_params: int
    trainable_params: int
    total_macs: int
    activation_elements: int
    errors: int
    warnings: int


@dataclass
class ShapeAnalysis:
    """Incremental shape inference over a `Graph`, kept current by the graph's events."""

    graph: Graph
    _results: dict[str, NodeResult] = field(default_factory=dict)
    _dirty: set[str] = field(default_factory=set)
    _order: dict[str, float] = field(default_factory=dict)
    _cyclic: set[str] = field(default_factory=set)
    _cycles: dict[str, set[str]] = field(default_factory=dict)  # each cycle's lead node (first in graph order) -> its nodes
    _structure_dirty: bool = True
    _next_order: int = 0
    _recomputed: set[str] = field(default_factory=set)
    last_recomputed: int = 0

    def __post_init__(self) -> None:
        self._dirty = set(self.graph.nodes)
        self.graph.subscribe(self._on_event)
        if self.graph.library is not None:
            self.graph.library.subscribe(self._on_blocks_changed)

    def close(self) -> None:
        """Stop following the graph (and its blocks)."""
        self.graph.unsubscribe(self._on_event)
        if self.graph.library is not None:
            self.graph.library.unsubscribe(self._on_blocks_changed)

    def _on_blocks_changed(self, event: Any) -> None:
        self._dirty.update(n.id for n in self.graph.nodes.values() if n.type in event.names)

    # ----- results -----
    def result(self, node_id: str) -> NodeResult:
        """The analysis of one node, brought up to date first."""
        self.refresh()
        return self._results[node_id]

    def results(self) -> dict[str, NodeResult]:
        """The analysis of every node, brought up to date first."""
        self.refresh()
        return self._results

    def ordered_ids(self) -> list[str]:
        """Node ids in topological order (nodes on a cycle where their component falls)."""
        self.refresh()
        position = {node_id: i for i, node_id in enumerate(self.graph.nodes)}
        return sorted(self.graph.nodes, key=lambda n: (self._order[n], position[n]))

    def wiring_problem(self, node_id: str, feeds: dict[str, tuple[str, str]]) -> str | None:
        """The error node `node_id` would show if these outputs (node id, port) fed its inputs, the graph left as it is.

        None when the shapes fit, or when it cannot be told yet (a feeding shape unknown,
        another input of the node still unconnected).
        """
        node = self.graph.node(node_id)
        shapes: list[Shape | None] = []
        dtypes: list[str] = []
        for port in node.spec.input_ports(node.params):
            feed = feeds.get(port.name)
            if feed is None:
                if not port.optional:
                    return None
                shapes.append(None)
                continue
            src = self._results.get(feed[0])
            if src is None or src.outputs is None or src.dtype is None or feed[1] not in src.outputs:
                return None
            shapes.append(src.outputs[feed[1]])
            dtypes.append(src.dtype)
        result = self._apply_rule(node, f"{node.type} '{node.name}'", shapes, dtypes)
        return next((d.message for d in result.diagnostics if d.severity == "error"), None)

    def diagnostics(self) -> list[Diagnostic]:
        """Every diagnostic: graph-level ones first, then per node in graph order."""
        self.refresh()
        found = self._graph_diagnostics()
        for node_id in self.graph.nodes:
            found.extend(self._results[node_id].diagnostics)
        return found

    def summary(self) -> Summary:
        """Totals: parameters, MACs, activation size per sample, diagnostic counts."""
        results = self.results()
        diags = self.diagnostics()
        params = sum(r.params for r in results.values())
        return Summary(
            total_params=params + sum(r.buffers for r in results.values()),
            trainable_params=params,
            total_macs=sum(r.macs for r in results.values()),
            activation_elements=sum(numel(s) for r in results.values() if r.outputs for s in r.outputs.values())
            + sum(r.inner_activations for r in results.values()),
            errors=sum(1 for d in diags if d.severity == "error"),
            warnings=sum(1 for d in diags if d.severity == "warning"),
        )

    @property
    def is_valid(self) -> bool:
        """True when no diagnostic is an error."""
        return not any(d.severity == "error" for d in self.diagnostics())

    def _graph_diagnostics(self) -> list[Diagnostic]:
        if not self.graph.nodes:
            return [Diagnostic(None, "error", "The network is empty", "add an Input layer from the palette")]
        types = {node.type for node in self.graph.nodes.values()}
        found = []
        if "Input" not in types:
            found.append(Diagnostic(None, "error", "The network has no Input layer", "add an Input and connect it to the first layer"))
        if "Output" not in types:
            found.append(Diagnostic(None, "error", "The network has no Output layer", "connect an Output to the tensor the model should return"))
        return found

    # ----- keeping up with the graph -----
    def _on_event(self, event: Event) -> None:
        if isinstance(event, NodeAdded):
            self._order[event.node.id] = self._next_order
            self._next_order += 1
            self._dirty.add(event.node.id)
        elif isinstance(event, NodeRemoved):
            node_id = event.node.id
            self._results.pop(node_id, None)
            self._order.pop(node_id, None)
            self._dirty.discard(node_id)
            if node_id in self._cyclic:
                self._structure_dirty = True
            # the feeders too: their output may now be unused
            self._dirty.update(n for e in event.edges for n in (e.src, e.dst) if n != node_id)
        elif isinstance(event, EdgeAdded):
            src, dst = event.edge.src, event.edge.dst
            if (
                self._structure_dirty
                or src in self._cyclic
                or dst in self._cyclic
                or (self._order[src] >= self._order[dst] and not (self._reslot(src) or self._reslot(dst)))
            ):
                self._structure_dirty = True
            self._dirty.update((src, dst))  # src: its "output is not used" warning may go
        elif isinstance(event, EdgeRemoved):
            if event.edge.src in self._cyclic and event.edge.dst in self._cyclic:
                self._structure_dirty = True
            self._dirty.update((event.edge.src, event.edge.dst))
        elif isinstance(event, ParamChanged):
            self._dirty.add(event.node_id)
        elif isinstance(event, NodeRenamed):
            self._dirty.add(event.node_id)
            if event.node_id in self._cyclic:
                self._dirty.update(self._cyclic)
        elif isinstance(event, NodeMoved):
            pass

    def _reslot(self, node_id: str) -> bool:
        """Move one node's order between its predecessors' and successors' if there is room.

        This keeps the usual edit, inserting a new node into an existing edge, from re-sorting
        the whole graph; when there is no room the caller falls back to `_restructure`.
        """
        g = self.graph.structure()
        low = max((self._order[n] for n in g.predecessors(node_id)), default=-1.0)
        high = min((self._order[n] for n in g.successors(node_id)), default=math.inf)
        middle = (low + high) / 2 if high != math.inf else low + 1
        if not low < middle < high:
            return False
        self._order[node_id] = middle
        return True

    def _restructure(self) -> None:
        order = _topological_order(self.graph)
        if order is not None:  # no cycle: each node its own component, and no condensed graph to build
            self._order = {node_id: index for index, node_id in enumerate(order)}
            self._next_order = len(order)
            self._cycles = {}
            self._dirty |= self._cyclic
            self._cyclic = set()
            self._structure_dirty = False
            return
        g = self.graph.structure()
        condensed = nx.condensation(g)
        members = condensed.graph["mapping"]
        groups: dict[int, list[str]] = {}
        for node_id, comp in members.items():
            groups.setdefault(comp, []).append(node_id)
        self._order = {}
        for index, comp in enumerate(nx.topological_sort(condensed)):
            for node_id in groups[comp]:
                self._order[node_id] = index
        self._next_order = len(groups)
        looped = {members[n] for n in nx.nodes_with_selfloops(g)}
        tangled = {comp: set(group) for comp, group in groups.items() if len(group) > 1 or comp in looped}
        self._cycles = {}
        for node_id in self.graph.nodes:
            comp = members[node_id]
            if comp in tangled:
                self._cycles[node_id] = tangled.pop(comp)
        cyclic = {n for group in self._cycles.values() for n in group}
        self._dirty |= cyclic | self._cyclic  # on a cycle before or now: the path named may have changed
        self._cyclic = cyclic
        self._structure_dirty = False

    def refresh(self) -> set[str]:
        """Recompute what changed since the last call; return the ids recomputed."""
        if self._structure_dirty:
            self._restructure()
        if not self._dirty:
            self.last_recomputed = 0
            return set()
        nodes = self.graph.nodes
        if len(self._dirty) >= len(nodes) and all(n in self._dirty for n in nodes):
            return self._refresh_all()
        heap = [(self._order[n], n) for n in self._dirty if n in nodes]
        heapq.heapify(heap)
        self._dirty = set()
        done: set[str] = set()
        while heap:
            _, node_id = heapq.heappop(heap)
            if node_id in done:
                continue
            done.add(node_id)
            old = self._results.get(node_id)
            new = self._compute(self.graph.nodes[node_id])
            self._results[node_id] = new
            if old is None or old.outputs != new.outputs or old.dtype != new.dtype:
                for succ in self.graph.successors(node_id):
                    if succ not in done:
                        heapq.heappush(heap, (self._order[succ], succ))
        self.last_recomputed = len(done)
        self._recomputed |= done
        return done

    def _refresh_all(self) -> set[str]:
        """Recompute every node once, in topological order: what `refresh` does when all are dirty, without its queue."""
        nodes = self.graph.nodes
        self._dirty = set()
        for node_id in sorted(nodes, key=self._order.__getitem__):
            self._results[node_id] = self._compute(nodes[node_id])
        done = set(nodes)
        self.last_recomputed = len(done)
        self._recomputed |= done
        return done

    def take_recomputed(self) -> set[str]:
        """Ids recomputed since the last call, by any refresh (a view redraws exactly these)."""
        taken, self._recomputed = self._recomputed, set()
        return {n for n in taken if n in self.graph.nodes}

    # ----- one node -----
    def _compute(self, node: Node) -> NodeResult:
        spec = node.spec
        label = f"{node.type} '{node.name}'"
        ports = spec.input_ports(node.params)
        if node.id in self._cyclic:
            lead = node.id in self._cycles  # a cycle is one problem, pinned to its first node
            return NodeResult((None,) * len(ports), None, None, diagnostics=(self._cycle_diagnostic(node, label),) if lead else ())
        shapes: list[Shape | None] = []
        dtypes: list[str] = []
        unknown = False
        missing = []
        for port in ports:
            edge = self.graph.source_of(node.id, port.name)
            if edge is None:
                if not port.optional:
                    missing.append(port.name)
                shapes.append(None)
                continue
            src = self._results.get(edge.src)
            if src is None or src.outputs is None or src.dtype is None:
                unknown = True
                shapes.append(None)
                continue
            shapes.append(src.outputs[edge.src_port])
            dtypes.append(src.dtype)
        if missing:
            names = ", ".join(repr(m) for m in missing)
            what = "input" if len(ports) == 1 else f"input {names}"
            diag = Diagnostic(node.id, "error", f"{label} has no {what} connected", "connect a layer's output to it")
            return NodeResult(tuple(shapes), None, None, diagnostics=(diag,))
        if unknown:
            return NodeResult(tuple(shapes), None, None)
        return self._apply_rule(node, label, shapes, dtypes)

    def _apply_rule(self, node: Node, label: str, shapes: list[Shape | None], dtypes: list[str]) -> NodeResult:
        spec = node.spec
        inputs = tuple(shapes)
        dtype_problem = _dtype_problem(spec.input_dtype, dtypes)
        if dtype_problem:
            message, hint = dtype_problem
            return NodeResult(inputs, None, None, diagnostics=(Diagnostic(node.id, "error", f"{label} {message}", hint),))
        try:
            shapes, batch, rows = plain_batch(spec, [p.name for p in spec.input_ports(node.params)], shapes)
            if node.block is not None:
                return self._apply_block(node, label, inputs, shapes, dtypes, batch)
            outs = spec.infer(node.params, shapes)
            if spec.batch != "own":
                outs = [(batch, *o[1:]) for o in outs]
            empty = next((s for s in outs if any(d is not None and d <= 0 for d in s)), None)
            if empty is not None:
                given = ", ".join(show(s) for s in shapes if s is not None)
                raise ShapeError(f"would produce an empty output {show(empty)} from {given}", "use a larger input or a smaller kernel, stride or padding")
            held = spec.state(node.params, shapes).values()  # once: `count_params` and `count_buffers` each build it
            params = sum(t.numel() for t in held if t.learned)
            buffers = sum(t.numel() for t in held if not t.learned)
            macs = spec.count_macs(node.params, shapes, outs) * rows
        except ShapeError as err:
            diag = Diagnostic(node.id, "error", f"{label} {err.message}", err.hint)
            return NodeResult(inputs, None, None, diagnostics=(diag,))
        except Exception as err:  # noqa: BLE001 - a bug in a shape rule must not break the editor
            diag = Diagnostic(node.id, "error", f"{label} could not be analysed ({type(err).__name__}: {err})", "please report this")
            return NodeResult(inputs, None, None, diagnostics=(diag,))
        dtype = _output_dtype(spec.output_dtype, node.params, dtypes)
        ports = spec.output_ports(node.params)
        outputs = {port.name: shape for port, shape in zip(ports, outs)}
        return NodeResult(inputs, outputs, dtype, params, buffers, macs, self._unused(node, label, bool(ports)))

    def _apply_block(
        self, node: Node, label: str, inputs: tuple[Shape | None, ...], shapes: list[Shape | None], dtypes: list[str], batch: int | None
    ) -> NodeResult:
        """An instance of a block: the block's inner analysis on these inputs (ShapeError for a problem inside)."""
        found = node.block.analyse_instance(node.params, shapes, dtypes)
        ports = node.spec.output_ports(node.params)
        outputs = {port.name: (batch, *shape[1:]) for port, shape in zip(ports, found.outputs)}
        rows = int(batch) if isinstance(batch, Folded) else 1
        diags = self._unused(node, label, bool(ports))
        return NodeResult(inputs, outputs, found.dtype, found.params, found.buffers, found.macs * rows, diags, found.inner, found.activations)

    def _unused(self, node: Node, label: str, has_outputs: bool) -> tuple[Diagnostic, ...]:
        if has_outputs and not self.graph.structure()._succ[node.id]:
            return (Diagnostic(node.id, "warning", f"{label} output is not used", "connect it to another layer or an Output"),)
        return ()

    def _cycle_diagnostic(self, node: Node, label: str) -> Diagnostic:
        members = self._cycles[node.id]
        cycle = _find_cycle(self.graph, node.id, members)
        names = [f"'{self.graph.nodes[n].name}'" for n in cycle]
        if len(names) > CYCLE_NAMES_SHOWN + 1:
            names = [*names[:CYCLE_NAMES_SHOWN], f"… {len(cycle) - 1 - CYCLE_NAMES_SHOWN:,} more", names[-1]]
        message = f"{label} is part of a cycle ({' → '.join(names)})"
        if len(members) > len(cycle) - 1:
            message += f", one of {len(members):,} layers tied into cycles here"
        return Diagnostic(node.id, "error", message, "a network must flow one way: remove one of these connections")

    def invalidate(self, node_ids: Iterable[str]) -> None:
        """Mark nodes for recomputation (used after bulk changes made outside the events)."""
        self._dirty.update(node_ids)


def _topological_order(graph: Graph) -> list[str] | None:
    """The nodes in topological order, generation by generation, each in graph order; None when the graph has a cycle."""
    pred, succ_of = graph.structure()._pred, graph.structure()._succ  # by source, then by edge: each neighbour once
    waiting = {node_id: len(pred[node_id]) for node_id in graph.nodes}
    generation = [node_id for node_id, count in waiting.items() if count == 0]
    order: list[str] = []
    while generation:
        order += generation
        following = []
        for node_id in generation:
            for succ in succ_of[node_id]:
                waiting[succ] -= 1
                if waiting[succ] == 0:
                    following.append(succ)
        generation = following
    return order if len(order) == len(waiting) else None


def _find_cycle(graph: Graph, node_id: str, members: set[str]) -> list[str]:
    """The shortest cycle through `node_id` within its strongly connected `members`, starting and ending there."""
    g = graph.structure()
    parent: dict[str, str] = {node_id: node_id}
    queue = deque([node_id])
    while queue:
        current = queue.popleft()
        for succ in g.successors(current):
            if succ == node_id:
                path = [current]
                while path[-1] != node_id:
                    path.append(parent[path[-1]])
                return [*reversed(path), node_id]
            if succ in members and succ not in parent:
                parent[succ] = current
                queue.append(succ)
    return [node_id, node_id]


def _dtype_problem(wanted: str, dtypes: list[str]) -> tuple[str, str] | None:
    if len(set(dtypes)) > 1:
        return ("mixes float32 values and int64 token ids", "give every input the same type (an Embedding turns token ids into float vectors)")
    if wanted == "float" and any(d.startswith("int") for d in dtypes):
        return ("needs floating-point input but gets int64 token ids", "put an Embedding before it, or set the Input's dtype to float32")
    if wanted == "int" and any(d.startswith("float") for d in dtypes):
        return ("needs int64 token ids but gets float32 values", "feed it from an Input whose dtype is int64")
    return None


def _output_dtype(rule: str, params: dict, dtypes: list[str]) -> str:
    if rule.startswith("param:"):
        return str(params[rule[6:]])
    if rule == "same":
        return dtypes[0] if dtypes else "float32"
    return "int64" if rule == "int" else "float32"


@collector_paused()
def analyse(graph: Graph) -> ShapeAnalysis:
    """Run a one-off analysis of `graph` (still incremental if the graph changes later)."""
    analysis = ShapeAnalysis(graph)
    analysis.refresh()
    return analysis


def snapshot_analysis(graph: Graph) -> ShapeAnalysis:
    """Analyse `graph` once, without following it: for readers such as code generators.

    A live analysis stays subscribed to its graph; one left behind by every code generation
    would pile up on a graph the editor keeps open.
    """
    analysis = analyse(graph)
    analysis.close()
    return analysis
