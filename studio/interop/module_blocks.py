"""An imported flat network regrouped into blocks along the source model's module hierarchy.

Every module scope that holds more than one layer, is a contiguous sub-graph (no path leaves
it and comes back) and is fed from outside (a held table and the rows read from it are not a
block: a block needs an Input) becomes an instance of a block; a scope holding a single layer of its own names that
layer instead (`conv1`), and one whose only content is a sub-module's (`heads` holding `heads.head`, a
stage of one block) is a block of that one unit, so the module paths keep their levels. Nested
scopes become nested blocks, at every level: a ResNet's `layer1` is a block of bottleneck
instances `0`, `1`, `2`, each holding its `downsample` block, so the generated PyTorch code
has the source model's module paths and state-dict keys (`layer1.0.downsample.0.weight`),
and the top level reads as the source model's own `forward`: a stem, four stages and a head.

Scopes whose sub-graphs are alike (the same layer types and block instances, wired the same
way) share one definition: the parameters that differ between them become the block's exposed
parameters (`Exposed.binds`), one per distinct run of values (`out_channels`, `stride`), so
`layer2.1` and `layer3.4` are instances of one block of different widths. A structure that is
another's with some units left out (a bottleneck without its projected shortcut,
`block_variants`) joins it, those units behind a switch (`downsample`), unless what is left out
is one more of a repeated module (a stage of four bottlenecks is not one of three with a
switch) or either is an nn.Sequential (its layers are numbered in order, which a switch would break). Scopes that differ otherwise get separate blocks, named after the module's class
where the file records it (dynamo: `Bottleneck`, then `Bottleneck_2`) and after the scope
otherwise (`Layer1`, `Layer1Block` for `layer1.0`). A block is a definition, not shared weights: each layer's
weights move to its flattened id (`n40.0.n3.0.n5/weight`, as `graph.flatten` names it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from studio.graph.blocks import BlockError, BlockLibrary
from studio.graph.catalogue import CATALOGUE
from studio.graph.catalogue.base import ShapeError
from studio.graph.model import Graph, GraphError
from studio.graph.shapes import ShapeAnalysis, snapshot_analysis
from studio.graph.weights_file import SEPARATOR
from studio.interop.block_exposed import exposed, switches, value_of
from studio.interop.block_variants import left_out
from studio.interop.onnx_scopes import Scope

if TYPE_CHECKING:
    import numpy as np

GENERIC_CLASSES = frozenset({"", "Sequential", "ModuleList", "ModuleDict", "Module"})
Source = tuple[str, str]  # a flat tensor: (node id, output port)
_TOP = Scope((), (), "top")  # where the network's own Inputs and Outputs sit


@dataclass(eq=False)
class _Scope:
    """One module of the source model: the flat layers inside it and its sub-modules."""

    key: tuple[str, ...]
    kind: str
    layers: list[str] = field(default_factory=list)  # every flat layer inside, in flat order
    direct: list[str] = field(default_factory=list)  # the layers of this module's own forward
    children: list[_Scope] = field(default_factory=list)
    block: bool = False
    units: list[Any] = field(default_factory=list)  # flat layer ids and block scopes: the nodes of its graph
    inputs: list[Source] = field(default_factory=list)
    outputs: list[Source] = field(default_factory=list)
    base: tuple[str, ...] = ()  # the module its units are named from: the root names them below a wrapper it unwrapped
    group: int = 0  # scopes of one structure share a group, before their blocks are defined
    name: str = ""  # the block it is an instance of
    values: dict[str, Any] = field(default_factory=dict)  # its exposed values
    ids: list[str] = field(default_factory=list)  # the node id of each unit in the block's graph
    mapping: list[int | None] | None = None  # each unit of its block's template: its own unit's place, None where switched off


@dataclass(frozen=True)
class Blocked:
    """The regrouped network and its weights keyed by flattened node id."""

    graph: Graph
    state: dict[str, np.ndarray]


def regrouped(
    flat: Graph, scopes: dict[str, Scope], state: dict[str, np.ndarray], analysis: ShapeAnalysis, warnings: list[str]
) -> tuple[Graph, dict[str, np.ndarray]]:
    """The network regrouped into blocks and its re-keyed weights, or `flat` as it is (with a warning where grouping failed)."""
    try:
        blocked = group_by_modules(flat, scopes, state, analysis)
    except (GraphError, ShapeError) as err:
        warnings.append(f"the network is kept flat: its modules could not be made blocks ({err})")
        return flat, state
    if blocked is None:
        return flat, state
    check = snapshot_analysis(blocked.graph)
    before, after = analysis.summary(), check.summary() if check.is_valid else None
    if after is None or (after.total_params, after.trainable_params, after.total_macs) != (before.total_params, before.trainable_params, before.total_macs):
        warnings.append("the network is kept flat: its modules made as blocks do not compute what the file does")
        return flat, state
    return blocked.graph, blocked.state


def group_by_modules(flat: Graph, scopes: dict[str, Scope], state: dict[str, np.ndarray], analysis: ShapeAnalysis | None = None) -> Blocked | None:
    """Regroup `flat` (as `analysis` sees it) by the module scopes of its layers, each top-level layer named after its module (`fc1`); None when no layer has a scope."""
    if not any(scope.path for scope in scopes.values()):
        return None  # no module to make a block of and none to name a layer after
    order = {node_id: i for i, node_id in enumerate(flat.nodes)}
    ranked = list(nx.topological_sort(flat.structure()))
    scopes = _settled(flat, scopes, ranked)
    root = _tree(flat, scopes)
    _choose(flat, root, {node_id: i for i, node_id in enumerate(ranked)})
    shapes = analysis or snapshot_analysis(flat)
    library = BlockLibrary()
    builder = _Builder(flat, scopes, order, library, shapes)
    blocks = [s for s in _walk(root) if s.block]
    groups = [alike for height in sorted({_height(s) for s in blocks}) for alike in builder.alike([s for s in blocks if _height(s) == height])]
    groups = _dependency_order(builder.merge_variants(groups))
    builder.names(groups)
    for alike in groups:
        builder.define(alike)
    graph = builder.top(root)
    return Blocked(graph, _rekeyed(state, root, builder.top_ids))


# ----- the module tree -----
def _settled(flat: Graph, scopes: dict[str, Scope], ranked: list[str]) -> dict[str, Scope]:
    """The scopes with two repairs: a layer the exporter left without one (made by its own rewrites) takes the scope its neighbours share, and a layer of no inputs (a held tensor) moves into the scope its readers share."""
    settled = dict(scopes)
    structure = flat.structure()
    for node_id in [*ranked, *reversed(ranked)]:  # forwards, then backwards for what only later layers tell
        scope = settled.get(node_id)
        if scope is None:
            continue
        readers = [settled.get(m, _TOP) for m in structure.successors(node_id)]  # an Input or Output is at the top
        if not scope.path and not scope.op:
            near = [settled.get(m, _TOP) for m in structure.predecessors(node_id)] + readers
            shared = _shared([s for s in near if s.path or s.op])
            if shared is not None:
                settled[node_id] = Scope(shared.path, shared.classes, scope.op)
        elif not structure.in_degree(node_id) and readers:
            shared = _shared(readers)
            if shared is not None and shared.path[: len(scope.path)] == scope.path and len(shared.path) > len(scope.path):
                settled[node_id] = Scope(shared.path, shared.classes, scope.op)
    return settled


def _shared(found: list[Scope]) -> Scope | None:
    """The deepest scope holding all of `found`, or None when `found` is empty."""
    if not found:
        return None
    path = found[0].path
    for scope in found[1:]:
        depth = next((i for i, (a, b) in enumerate(zip(path, scope.path)) if a != b), min(len(path), len(scope.path)))
        path = path[:depth]
    return Scope(path, found[0].classes[: len(path)], "")


def _tree(flat: Graph, scopes: dict[str, Scope]) -> _Scope:
    root = _Scope((), "")
    found: dict[tuple[str, ...], _Scope] = {(): root}
    for node_id in flat.nodes:
        scope = scopes.get(node_id)
        path = scope.path if scope is not None else ()
        here = root
        root.layers.append(node_id)
        for depth in range(1, len(path) + 1):
            key = path[:depth]
            if key not in found:
                found[key] = _Scope(key, scope.classes[depth - 1] if scope and depth <= len(scope.classes) else "")
                here.children.append(found[key])
            here = found[key]
            here.layers.append(node_id)
        here.direct.append(node_id)
    return root


def _walk(scope: _Scope) -> Iterable[_Scope]:
    """Every scope below `scope`, children before parents."""
    for child in scope.children:
        yield from _walk(child)
    yield scope


def _choose(flat: Graph, scope: _Scope, rank: dict[str, int]) -> None:
    """Mark the scopes that become blocks and work out each one's units, children first (`rank`: each node's place in a topological order)."""
    for child in scope.children:
        _choose(flat, child, rank)
    units: list[Any] = [*scope.direct]
    for child in scope.children:
        units.extend([child] if child.block else child.units)
    first = {id(u): _first_layer(u) for u in units}
    index = {node_id: i for i, node_id in enumerate(scope.layers)}
    scope.units = sorted(units, key=lambda u: index[first[id(u)]])
    if scope.key:
        inside = set(scope.layers)
        entered = any(e.src not in inside for n in scope.layers for e in flat.in_edges(n))  # a block needs an Input: a held table and its rows are not one
        scope.block = (len(scope.units) > 1 or _wraps(scope)) and entered and _contiguous(flat, inside, rank)
        return
    while True:  # a module that wraps the whole network (a Hugging Face model's `transformer`) is the network itself
        inner = [u for u in scope.units if isinstance(u, _Scope) or flat.node(u).type not in ("Input", "Output")]
        if len(inner) != 1 or not isinstance(inner[0], _Scope):
            return
        inner[0].block = False
        scope.base = inner[0].key  # its modules are named from there
        at = scope.units.index(inner[0])
        scope.units[at : at + 1] = inner[0].units


def _wraps(scope: _Scope) -> bool:
    """True for a module whose one unit is a sub-module's (`heads` holding `heads.head`, a stage of one block): a level of module paths to keep."""
    return len(scope.units) == 1 and (isinstance(scope.units[0], _Scope) or scope.units[0] not in scope.direct)


def _first_layer(unit: Any) -> str:
    return unit.layers[0] if isinstance(unit, _Scope) else unit


def _contiguous(flat: Graph, inside: set[str], rank: dict[str, int]) -> bool:
    """True when no path leaves `inside` and comes back into it (only layers before its last one can lead back)."""
    structure = flat.structure()
    last = max(rank[n] for n in inside)
    todo = [m for n in inside for m in structure.successors(n) if m not in inside and rank[m] < last]
    seen = set(todo)
    while todo:
        for m in structure.successors(todo.pop()):
            if m in inside:
                return False
            if m not in seen and rank[m] < last:
                seen.add(m)
                todo.append(m)
    return True


def _height(scope: _Scope) -> int:
    return 1 + max((_height(u) for u in scope.units if isinstance(u, _Scope)), default=-1)


# ----- building the blocks -----
class _Builder:
    """Defines the blocks level by level, then builds the top-level graph."""

    def __init__(self, flat: Graph, scopes: dict[str, Scope], order: dict[str, int], library: BlockLibrary, analysis: Any) -> None:
        self.flat, self.scopes, self.order, self.library, self.analysis = flat, scopes, order, library, analysis
        self.top_ids: dict[int, str] = {}  # id(unit) -> its node id in the top graph
        self.groups = 0
        self.taken: set[str] = set()

    def alike(self, members: list[_Scope]) -> list[list[_Scope]]:
        """Sort these scopes (their children already sorted) into groups of one structure each."""
        groups: dict[Any, list[_Scope]] = {}
        for scope in members:
            scope.inputs, scope.outputs = self._ports(scope)
            groups.setdefault(self._signature(scope), []).append(scope)
        for alike in groups.values():
            self.groups += 1
            for scope in alike:
                scope.group = self.groups
        return list(groups.values())

    def names(self, groups: list[list[_Scope]]) -> None:
        """Name each group's block in the order the network first uses them: `Bottleneck`, then `Bottleneck_2`."""
        for alike in sorted(groups, key=lambda a: self.order[a[0].layers[0]]):
            name = self._free_name(_block_name(alike[0]))
            for scope in alike:
                scope.name = name

    def merge_variants(self, groups: list[list[_Scope]]) -> list[list[_Scope]]:
        """Let a group whose structure is another's with some units left out join it (those units switched off); children first."""
        absorbed: set[int] = set()
        grew: set[int] = set()
        for index, smaller in enumerate(groups):
            for other, larger in enumerate(groups):
                if other == index or other in absorbed or index in grew or len(larger[0].units) <= len(smaller[0].units):
                    continue
                removed = self._left_out(larger[0], smaller[0])
                if removed is None:
                    continue
                for scope in smaller:
                    scope.mapping = _mapping(len(larger[0].units), removed)
                    scope.group = larger[0].group
                larger.extend(smaller)
                absorbed.add(index)
                grew.add(other)
                break
        return [g for i, g in enumerate(groups) if i not in absorbed]

    def _left_out(self, larger: _Scope, smaller: _Scope) -> tuple[int, ...] | None:
        if (len(larger.inputs), len(larger.outputs)) != (len(smaller.inputs), len(smaller.outputs)):
            return None
        if _holds(larger, smaller.group) or _holds(smaller, larger.group):
            return None  # one inside the other (a residual wrapper and its body): one block would contain itself
        if self._numbered(larger) or self._numbered(smaller):
            return None  # an nn.Sequential's layers are numbered in order: with one left out, the rest would no longer be
        firsts: list[str | None] = []
        for unit in larger.units:
            if isinstance(unit, _Scope):
                firsts.append(_port_name("in", 0, len(unit.inputs)) if unit.inputs else None)
            else:
                ports = self.flat.node(unit).spec.input_ports(self.flat.node(unit).params)
                firsts.append(ports[0].name if ports else None)
        kinds = self._kinds(larger)
        removed = left_out(kinds, self._wiring(larger), self._kinds(smaller), self._wiring(smaller), firsts)
        kept = {k for i, k in enumerate(kinds) if removed is not None and i not in removed}
        if removed is None or any(isinstance(larger.units[r], _Scope) and kinds[r] in kept for r in removed):
            return None  # one more of a repeated module is another count, not a switch (a stage of 4 blocks against one of 3)
        return removed

    def _numbered(self, scope: _Scope) -> bool:
        """True for a module whose units are named 0, 1, ... in order (an nn.Sequential), whose code is a chain only while all of them are there."""
        return [self._unit_name(scope, u) for u in scope.units] == [str(i) for i in range(len(scope.units))]

    def define(self, alike: list[_Scope]) -> None:
        """Define the block of these look-alike scopes (their children defined): one definition, the values that differ exposed."""
        try:
            self._define(alike, alike[0].name)
        except GraphError:  # values no exposed parameter can hold: each scope its own block
            for index, scope in enumerate(alike):
                scope.mapping = None
                self._define([scope], alike[0].name if index == 0 else self._free_name(alike[0].name))

    def _ports(self, scope: _Scope) -> tuple[list[Source], list[Source]]:
        inside = set(scope.layers)
        entering = sorted(
            (e for n in scope.layers for e in self.flat.in_edges(n) if e.src not in inside),
            key=lambda e: (self.order[e.dst], e.dst_port),
        )
        leaving = sorted(
            (e for n in scope.layers for e in self.flat.out_edges(n) if e.dst not in inside),
            key=lambda e: (self.order[e.src], e.src_port),
        )
        return list(dict.fromkeys((e.src, e.src_port) for e in entering)), list(dict.fromkeys((e.src, e.src_port) for e in leaving))

    def _wiring(self, scope: _Scope) -> list[tuple[Any, ...]]:
        """The edges of the scope's graph: (source, port, destination, port), ends as ('in', i), ('unit', i) or ('out', j)."""
        position = {id(u): i for i, u in enumerate(scope.units)}
        owner: dict[str, Any] = {}
        for unit in scope.units:
            for node_id in unit.layers if isinstance(unit, _Scope) else [unit]:
                owner[node_id] = unit
        inputs = {source: i for i, source in enumerate(scope.inputs)}

        def end(src: str, port: str) -> tuple[Any, str]:
            if src not in owner:
                return ("in", inputs[(src, port)]), "out"
            unit = owner[src]
            if isinstance(unit, _Scope):
                return ("unit", position[id(unit)]), _port_name("out", unit.outputs.index((src, port)), len(unit.outputs))
            return ("unit", position[id(unit)]), port

        edges = set()
        for node_id in scope.layers if scope.key else self.flat.nodes:
            for edge in self.flat.in_edges(node_id):
                dst = owner.get(edge.dst)
                if dst is None:
                    continue
                if isinstance(dst, _Scope):
                    if edge.src in owner and owner[edge.src] is dst:
                        continue
                    dst_port = _port_name("in", dst.inputs.index((edge.src, edge.src_port)), len(dst.inputs))
                else:
                    dst_port = edge.dst_port
                src, src_port = end(edge.src, edge.src_port)
                edges.add((src, src_port, ("unit", position[id(dst)]), dst_port))
        for j, (src, port) in enumerate(scope.outputs):
            found, found_port = end(src, port)
            edges.add((found, found_port, ("out", j), "in"))
        return sorted(edges, key=repr)

    def _kinds(self, scope: _Scope) -> tuple[Any, ...]:
        return tuple(u.group if isinstance(u, _Scope) else self.flat.node(u).type for u in scope.units)

    def _signature(self, scope: _Scope) -> Any:
        return (len(scope.inputs), len(scope.outputs), self._kinds(scope), tuple(self._wiring(scope)))

    def _unit_params(self, unit: Any) -> dict[str, Any]:
        return dict(unit.values) if isinstance(unit, _Scope) else dict(self.flat.node(unit).params)

    def _define(self, alike: list[_Scope], name: str) -> None:
        first = alike[0]
        inner = Graph(library=self.library, owner=name)
        for i, source in enumerate(first.inputs):
            shape = self.analysis.result(source[0]).outputs.get(source[1]) if self.analysis.result(source[0]).outputs else None
            params: dict[str, Any] = {"dtype": self.analysis.result(source[0]).dtype or "float32"}
            if shape is not None and None not in shape[1:]:
                params["shape"] = tuple(shape[1:])
            inner.add_node("Input", _port_name("in", i, len(first.inputs)), params)
        ids = []
        for unit in first.units:
            kind = unit.name if isinstance(unit, _Scope) else self.flat.node(unit).type
            label = inner.unique_name(self._unit_name(first, unit))
            ids.append(inner.add_node(kind, label, self._unit_params(unit)).id)
        outs = [inner.add_node("Output", _port_name("out", j, len(first.outputs))).id for j in range(len(first.outputs))]
        ins = [n.id for n in inner.nodes.values() if n.type == "Input"]
        for (src, src_port, dst, dst_port) in self._wiring(first):
            src_id = ins[src[1]] if src[0] == "in" else ids[src[1]]
            dst_id = outs[dst[1]] if dst[0] == "out" else ids[dst[1]]
            inner.connect(src_id, src_port, dst_id, dst_port)
        rows = [self._mapped(scope) for scope in alike]
        found = exposed(inner, ids, rows)
        found += switches(inner, ids, rows, {e.name for e in found})
        self.library.define(name, inner, found, _description(first, len(alike)))
        for scope, row in zip(alike, rows):
            scope.name = name
            scope.ids = [""] * len(scope.units)
            for i, own in enumerate(scope.mapping or range(len(scope.units))):
                if own is not None:
                    scope.ids[own] = ids[i]
            scope.values = {e.name: value_of(e, ids, row) for e in found}

    def _mapped(self, scope: _Scope) -> list[dict[str, Any] | None]:
        """The parameters of each unit of the block's template as this scope has it (None: switched off)."""
        places = scope.mapping or list(range(len(scope.units)))
        return [None if own is None else self._unit_params(scope.units[own]) for own in places]

    def _free_name(self, base: str) -> str:
        base = f"{base}Block" if base in CATALOGUE else base  # a module called Output or Linear is not that layer
        candidate, k = base, 2
        while True:
            try:
                self.library.check_name(candidate)
                if candidate not in self.taken:
                    self.taken.add(candidate)
                    return candidate
            except BlockError:
                pass
            candidate = f"{base}_{k}"
            k += 1

    def _unit_name(self, scope: _Scope, unit: Any) -> str:
        """`conv1` for the layer of sub-module conv1, `0` for instance layer1.0 inside layer1, `add` for an operator of the module's own forward."""
        start = len(scope.base or scope.key)
        if isinstance(unit, _Scope):
            return ".".join(unit.key[start:])
        found = self.scopes.get(unit)
        if found is None or (not found.path and not found.op):
            return self.flat.node(unit).name
        below = found.path[start:]
        return ".".join(below) if below else _op_name(found.op) if found.op else self.flat.node(unit).name

    def top(self, root: _Scope) -> Graph:
        """The network's own graph: the top-level layers (ids kept) and one instance per top-level block."""
        graph = Graph(library=self.library)
        taken = set(self.flat.nodes)
        counter = 1
        for unit in root.units:
            if isinstance(unit, _Scope):
                while f"n{counter}" in taken:
                    counter += 1
                node_id = f"n{counter}"
                taken.add(node_id)
                graph.add_node(unit.name, graph.unique_name(self._unit_name(root, unit)), unit.values, node_id=node_id)
            else:
                node = self.flat.node(unit)
                node_id = node.id
                label = node.name if node.type in ("Input", "Output") else graph.unique_name(self._unit_name(root, unit))
                graph.add_node(node.type, label, node.params, node_id=node_id)
            self.top_ids[id(unit)] = node_id
        ids = [self.top_ids[id(u)] for u in root.units]
        for (src, src_port, dst, dst_port) in self._wiring(root):
            graph.connect(ids[src[1]], src_port, ids[dst[1]], dst_port)
        return graph


def _port_name(stem: str, index: int, count: int) -> str:
    return stem if count == 1 else f"{stem}{index + 1}"










def _holds(scope: _Scope, group: int) -> bool:
    """True when an instance of `group` lies anywhere inside `scope`."""
    return any(isinstance(u, _Scope) and (u.group == group or _holds(u, group)) for u in scope.units)


def _mapping(size: int, removed: tuple[int, ...]) -> list[int | None]:
    """Each unit of a template of `size` units: its place in the variant that leaves out `removed`."""
    places: list[int | None] = []
    for i in range(size):
        places.append(None if i in removed else i - sum(1 for r in removed if r < i))
    return places


def _dependency_order(groups: list[list[_Scope]]) -> list[list[_Scope]]:
    """The groups with each one after the groups of the blocks its scopes hold."""
    owner = {id(scope): index for index, alike in enumerate(groups) for scope in alike}
    done: set[int] = set()
    ordered: list[list[_Scope]] = []

    def visit(index: int) -> None:
        if index in done:
            return
        done.add(index)
        for scope in groups[index]:
            for unit in scope.units:
                if isinstance(unit, _Scope) and id(unit) in owner:
                    visit(owner[id(unit)])
        ordered.append(groups[index])

    for index in range(len(groups)):
        visit(index)
    return ordered






def _op_name(op: str) -> str:
    """An operator's own name as a layer name: `Add` -> `add`, dynamo's `add_85` -> `add`."""
    return re.sub(r"_\d+$", "", op).strip("_").lower() or "layer"


def _block_name(scope: _Scope) -> str:
    """The module's class where the file names a specific one (`Bottleneck`), else the scope in CamelCase (`Layer1`, `Layer1Block`)."""
    if scope.kind not in GENERIC_CLASSES and re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", scope.kind):
        return scope.kind
    parts = [p for k in scope.key for p in k.split(".")]
    words = [p for p in parts if not p.isdigit()]
    stem = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", words[-1] if words else "") if w)
    stem = stem if stem and stem[0].isalpha() else f"Block{stem}"
    return (stem + "Block" if parts[-1].isdigit() and words else stem)[:60]


def _description(scope: _Scope, instances: int) -> str:
    where = ".".join(scope.key)
    more = f" and {instances - 1} more alike" if instances > 1 else ""
    return f"Module {where}{more} of the imported model."


def _rekeyed(state: dict[str, np.ndarray], root: _Scope, top_ids: dict[int, str]) -> dict[str, np.ndarray]:
    """Each weight under its layer's flattened id: `<instance>.0.<inner id>...` down the blocks that hold it."""
    final: dict[str, str] = {}

    def visit(scope: _Scope, prefix: str, ids: dict[int, str]) -> None:
        for unit in scope.units:
            node_id = ids[id(unit)]
            if isinstance(unit, _Scope):
                visit(unit, f"{prefix}{node_id}.0.", {id(u): unit.ids[i] for i, u in enumerate(unit.units)})
            else:
                final[unit] = prefix + node_id

    visit(root, "", top_ids)
    moved = {}
    for key, value in state.items():
        node_id, _, name = key.partition(SEPARATOR)
        moved[f"{final.get(node_id, node_id)}{SEPARATOR}{name}"] = value
    return moved
