"""Blocks: named sub-networks defined once in a project and used by any number of instances.

A `Block` holds an inner `Graph` whose Input and Output layers are its ports, and the
parameters it exposes (`Exposed`): each one sets parameters of inner layers, or switches
inner layers on (a layer switched off passes its first input through, as a missing
downsampling shortcut does). An instance is a node whose type is the block's name; its
parameters are `repeat` and the exposed ones, and its shape rule is the inner analysis run
on its own input shapes (`Block.analyse_instance`). Blocks live in a `BlockLibrary` shared by
the project's graph and every block's graph, which tells listeners which blocks changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from studio.graph.catalogue import CATALOGUE
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Port,
    Shape,
    ShapeError,
    numel,
    show,
    targets,
)
from studio.graph.model import Event, Graph, GraphError, NodeMoved
from studio.graph.params import Bool, Int, Param, ParamValueError
from studio.graph.shapes import NodeResult, snapshot_analysis

CATEGORY = "Blocks"
REPEAT = Int(
    "repeat",
    1,
    "How many times the block runs in sequence, each time with its own weights.",
    min=1,
    max=1000,
)
MAX_EXPANDED_LAYERS = 1_000_000  # layers once every instance counts its block's, times its repeat: nested instances multiply
MAX_NESTING = 16  # instances inside blocks inside blocks (real networks: under 8): the analysis and flattening recurse a level at a time
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_CACHE_LIMIT = 512


class BlockError(GraphError):
    """A block definition or library operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Exposed:
    """A block parameter: its name and default, and the inner parameters it sets or inner layers it switches on."""

    name: str
    default: Any
    binds: tuple[tuple[str, str], ...] = ()  # (inner node id, parameter name)
    switches: tuple[
        str, ...
    ] = ()  # inner node ids present only while this true/false parameter is true
    help: str = ""


@dataclass(frozen=True)
class BlockChanged:
    """These blocks changed (a definition, or a block they use): their instances must be analysed again."""

    names: frozenset[str]


@dataclass(frozen=True)
class InstanceResult:
    """What one instance computes: output shapes and dtype, totals, and each repeat's inner results."""

    outputs: tuple[Shape, ...]
    dtype: str
    params: int
    buffers: int
    macs: int
    activations: int  # elements of the inner layers' outputs per sample, the inner Inputs excluded
    inner: tuple[dict[str, NodeResult], ...]


@dataclass(eq=False)
class Block:
    """A named sub-network: an inner graph, its exposed parameters and a description."""

    name: str
    graph: Graph
    exposed: tuple[Exposed, ...] = ()
    description: str = ""
    version: int = 0
    _spec: tuple[int, LayerSpec] | None = field(default=None, repr=False)
    _cache: dict[Any, InstanceResult | ShapeError] = field(
        default_factory=dict, repr=False
    )

    def input_ids(self) -> list[str]:
        """The inner Input layers, in graph order: the instance's input ports."""
        return [n.id for n in self.graph.nodes.values() if n.type == "Input"]

    def output_ids(self) -> list[str]:
        """The inner Output layers, in graph order: the instance's output ports."""
        return [n.id for n in self.graph.nodes.values() if n.type == "Output"]

    def input_ports(self) -> tuple[Port, ...]:
        """`in` for one input, else `in1`, `in2`, ... in the order of the inner Input layers."""
        return _ports("in", len(self.input_ids()))

    def output_ports(self) -> tuple[Port, ...]:
        """`out` for one output, else `out1`, `out2`, ..."""
        return _ports("out", len(self.output_ids()))

    def params(self) -> tuple[Param, ...]:
        """The instance's parameters: `repeat`, then each exposed one typed like the first inner parameter it sets."""
        return _params(self, self.exposed)

    def spec(self) -> LayerSpec:
        """The catalogue-like entry of this block, rebuilt when the definition changes."""
        if self._spec is None or self._spec[0] != self.version:
            spec = LayerSpec(
                type=self.name,
                category=CATEGORY,
                doc=self.description
                or f"The block {self.name}, defined in this project.",
                params=self.params(),
                infer=lambda p, shapes: list(self.analyse_instance(p, shapes).outputs),
                inputs=self.input_ports(),
                outputs=self.output_ports(),
                input_dtype="any",
                output_dtype="same",
                targets=targets(
                    "a module class", "a function", "flattened", "flattened"
                ),
            )
            self._spec = (self.version, spec)
        return self._spec[1]

    # ----- the instance's analysis -----
    def analyse_instance(
        self,
        params: Params,
        shapes: list[Shape | None],
        dtypes: list[str] | None = None,
    ) -> InstanceResult:
        """Run the inner network on these input shapes (batch None) once per repeat; ShapeError names the inner problem."""
        values = {**{p.name: p.default for p in self.params()}, **params}
        dtypes = list(dtypes or ["float32"] * len(shapes))
        key = (
            self.version,
            tuple(sorted((k, _frozen(v)) for k, v in values.items())),
            tuple(shapes),
            tuple(dtypes),
        )
        cached = self._cache.get(key)
        if cached is None:
            try:
                cached = self._analyse(values, shapes, dtypes)
            except ShapeError as err:
                cached = err
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = cached
        if isinstance(cached, ShapeError):
            raise cached
        return cached

    def _analyse(
        self, values: Params, shapes: list[Shape | None], dtypes: list[str]
    ) -> InstanceResult:
        repeat = int(values["repeat"])
        if repeat > 1 and len(self.input_ids()) != len(self.output_ids()):
            raise ShapeError(
                f"repeats block {self.name}, which has {len(self.input_ids())} inputs but {len(self.output_ids())} outputs",
                "a repeated block feeds each output to the next repeat's input: give it as many outputs as inputs, or set repeat to 1",
            )
        inner, params, buffers, macs, activations = [], 0, 0, 0, 0
        for index in range(repeat):
            graph = self.resolved(values, shapes, dtypes)
            analysis = snapshot_analysis(graph)
            results = analysis.results()
            errors = [d for d in analysis.diagnostics() if d.severity == "error"]
            if errors:
                where = f" (repeat {index + 1} of {repeat})" if repeat > 1 else ""
                more = f"; {len(errors) - 1} more inside" if len(errors) > 1 else ""
                raise ShapeError(
                    f"fails inside block {self.name}{where}: {errors[0].message}{more}",
                    errors[0].hint,
                )
            inner.append(results)
            params += sum(r.params for r in results.values())
            buffers += sum(r.buffers for r in results.values())
            macs += sum(r.macs for r in results.values())
            inputs = set(self.input_ids())
            activations += sum(numel(s) for n, r in results.items() if n not in inputs and r.outputs for s in r.outputs.values())
            activations += sum(r.inner_activations for r in results.values())
            ends = [results[node_id] for node_id in self.output_ids()]
            shapes = [end.inputs[0] for end in ends]
            dtypes = [
                _source_dtype(graph, results, node_id) for node_id in self.output_ids()
            ]
        activations -= sum(numel(s) for s in shapes if s is not None)  # the instance's outputs: counted on the instance
        return InstanceResult(
            tuple(s for s in shapes if s is not None),
            dtypes[0] if dtypes else "float32",
            params,
            buffers,
            macs,
            max(activations, 0),
            tuple(inner),
        )

    def resolved(
        self,
        values: Params,
        shapes: list[Shape | None] | None = None,
        dtypes: list[str] | None = None,
    ) -> Graph:
        """The inner graph with the exposed values set, switched-off layers bypassed, and Inputs shaped like `shapes`."""
        values = {**{p.name: p.default for p in self.params()}, **values}
        off = {
            node_id
            for e in self.exposed
            if e.switches and not values[e.name]
            for node_id in e.switches
        }
        graph = Graph(library=self.graph.library, owner=self.name)
        for node in self.graph.nodes.values():
            if node.id in off:
                continue
            params = dict(node.params)
            for exposed in self.exposed:
                for node_id, name in exposed.binds:
                    if node_id == node.id:
                        params[name] = values[exposed.name]
            graph.add_node(node.type, node.name, params, node.position, node_id=node.id)
        for index, node_id in enumerate(self.input_ids()):
            shape = (
                shapes[index] if shapes is not None and index < len(shapes) else None
            )
            if shape is not None:
                if len(shape) < 2:
                    raise ShapeError(
                        f"gets {show(shape)} at input {index + 1}",
                        "a block input needs at least one dimension besides the batch",
                    )
                graph.set_param(node_id, "shape", tuple(shape[1:]))
            if dtypes is not None and index < len(dtypes):
                graph.set_param(node_id, "dtype", dtypes[index])
        for edge in self.graph.edges:
            if edge.dst in off:
                continue
            src, port = edge.src, edge.src_port
            while src in off:
                first = self.graph.node(src).spec.input_ports(
                    self.graph.node(src).params
                )
                feeder = self.graph.source_of(src, first[0].name) if first else None
                if feeder is None:
                    src = ""
                    break
                src, port = feeder.src, feeder.src_port
            if src:
                graph.connect(src, port, edge.dst, edge.dst_port)
        return graph


class BlockLibrary:
    """The blocks of one project, by name; tells listeners which blocks changed after every edit of one."""

    def __init__(self) -> None:
        self._blocks: dict[str, Block] = {}
        self._listeners: list[Callable[[BlockChanged], None]] = []

    def __contains__(self, name: object) -> bool:
        return name in self._blocks

    def __iter__(self) -> Iterator[Block]:
        return iter(self._blocks.values())

    def __len__(self) -> int:
        return len(self._blocks)

    def get(self, name: str) -> Block | None:
        """The block called `name`, or None."""
        return self._blocks.get(name)

    def subscribe(self, listener: Callable[[BlockChanged], None]) -> None:
        """Call `listener(event)` after every change of a block."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[BlockChanged], None]) -> None:
        """Stop calling `listener`."""
        self._listeners.remove(listener)

    def define(
        self,
        name: str,
        graph: Graph | None = None,
        exposed: tuple[Exposed, ...] = (),
        description: str = "",
    ) -> Block:
        """Add a block whose inner network is `graph` (a new empty one if None); return it."""
        self.check_name(name)
        graph = graph if graph is not None else Graph()
        graph.library, graph.owner = self, name
        block = Block(name, graph, (), description)
        block.exposed = _checked_exposed(block, exposed)
        self._blocks[name] = block
        graph.subscribe(lambda event: self._on_inner_event(name, event))
        return block

    def add(self, block: Block) -> None:
        """Put back a block that `remove` took out (the undo of a removal)."""
        self.check_name(block.name)
        self._blocks[block.name] = block
        self.changed(block.name)

    def remove(self, name: str) -> Block:
        """Take a block out of the library; refused while another block uses it."""
        block = self._need(name)
        users = sorted(self.users(name))
        if users:
            raise BlockError(f"block {name} is used by {', '.join(users)}: remove those instances first")
        self.changed(name)
        del self._blocks[name]
        return block

    def set_exposed(self, name: str, exposed: tuple[Exposed, ...]) -> None:
        """Replace the parameters a block exposes."""
        block = self._need(name)
        block.exposed = _checked_exposed(block, exposed)
        self.changed(name)

    def uses(self, outer: str, inner: str) -> bool:
        """True when block `outer` has an instance of `inner` somewhere inside it (through other blocks too)."""
        seen: set[str] = set()
        todo = [outer]
        while todo:
            block = self._blocks.get(todo.pop())
            if block is None:
                continue
            for node in block.graph.nodes.values():
                if node.type == inner:
                    return True
                if node.type in self._blocks and node.type not in seen:
                    seen.add(node.type)
                    todo.append(node.type)
        return False

    def users(self, name: str) -> set[str]:
        """The blocks that use `name`, directly or through other blocks."""
        return {
            other for other in self._blocks if other != name and self.uses(other, name)
        }

    def changed(self, name: str) -> None:
        """Mark a block and every block using it as changed, and tell the listeners."""
        names = {name} | self.users(name)
        for each in names:
            self._blocks[each].version += 1
        event = BlockChanged(frozenset(names))
        for listener in list(self._listeners):
            listener(event)

    def check_name(self, name: str) -> None:
        """Raise BlockError unless `name` can name a new block."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise BlockError(
                f"a block name is a letter then up to 63 letters, digits or '_', not {name!r}"
            )
        if name in CATALOGUE:
            raise BlockError(f"{name!r} is a layer type: give the block another name")
        if name in self._blocks:
            raise BlockError(f"the project already has a block called {name!r}")

    def _need(self, name: str) -> Block:
        block = self._blocks.get(name)
        if block is None:
            raise BlockError(f"the project has no block called {name!r}")
        return block

    def _on_inner_event(self, name: str, event: Event) -> None:
        if not isinstance(event, NodeMoved) and name in self._blocks:
            self.changed(name)


def _checked_exposed(block: Block, exposed: tuple[Exposed, ...]) -> tuple[Exposed, ...]:
    names: set[str] = {REPEAT.name}
    for item in exposed:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", item.name) or item.name in names:
            raise BlockError(
                f"block {block.name}: the parameter name {item.name!r} is not a new identifier"
            )
        names.add(item.name)
        if bool(item.binds) == bool(item.switches):
            raise BlockError(
                f"block {block.name}: parameter {item.name!r} must either set inner parameters or switch inner layers"
            )
        for node_id, param in item.binds:
            node = block.graph.nodes.get(node_id)
            if node is None or param not in {p.name for p in node.spec.params}:
                raise BlockError(
                    f"block {block.name}: parameter {item.name!r} sets {node_id}.{param}, which the block does not have"
                )
        for node_id in item.switches:
            node = block.graph.nodes.get(node_id)
            if node is None or not node.spec.input_ports(node.params):
                raise BlockError(
                    f"block {block.name}: parameter {item.name!r} switches {node_id}, which is not a layer with an input"
                )
    checked = []
    for item, param in zip(exposed, _params(block, exposed)[1:]):
        try:
            checked.append(replace(item, default=param.validate(item.default)))
        except (ParamValueError, TypeError, ValueError, OverflowError) as err:
            raise BlockError(f"block {block.name}: parameter {item.name!r}: {err}") from None
    return tuple(checked)


def _params(block: Block, exposed: tuple[Exposed, ...]) -> tuple[Param, ...]:
    found = [REPEAT]
    for item in exposed:
        if item.binds:
            node_id, name = item.binds[0]
            inner = block.graph.node(node_id).spec.param(name)
            found.append(replace(inner, name=item.name, default=item.default, help=item.help or inner.help))
        else:
            found.append(Bool(item.name, item.default, item.help or "Switches inner layers on."))
    return tuple(found)


def _ports(stem: str, count: int) -> tuple[Port, ...]:
    if count == 1:
        return (Port(stem),)
    return tuple(Port(f"{stem}{i + 1}") for i in range(count))


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _source_dtype(graph: Graph, results: dict[str, NodeResult], output_id: str) -> str:
    edge = next(iter(graph.in_edges(output_id)), None)
    dtype = results[edge.src].dtype if edge is not None else None
    return dtype or "float32"


def expanded_layers(graph: Graph) -> int:
    """The layers `graph` holds with each instance counted as its block's layers times its `repeat`, each block counted once (no recursion)."""
    return _expansion(graph)[0]


def nesting(graph: Graph) -> int:
    """How deep `graph`'s instances nest: 0 without instances, 1 for instances of blocks that hold none, and so on."""
    return _expansion(graph)[1]


def _expansion(graph: Graph) -> tuple[int, int]:
    """`expanded_layers` and `nesting` of `graph`, each block visited once, children before parents (an explicit stack, not recursion).

    NOTE: a few blocks nested two instances deep each hold 2^40 layers in a file of a few KiB, and
    a chain of a thousand nested blocks overflows the recursion of whatever walks instances; what
    expands instances (the `check` table, a flat export, a model to train, the analysis) is bounded
    by these first (`expansion_problem`).
    """
    counts: dict[str, tuple[int, int]] = {}
    pending = [node.block for node in graph.nodes.values() if node.block is not None]
    visiting: set[str] = set()
    while pending:
        block = pending[-1]
        if block.name in counts:
            pending.pop()
            continue
        inner = [node.block for node in block.graph.nodes.values() if node.block is not None and node.block.name not in counts]
        if inner and block.name not in visiting:
            visiting.add(block.name)
            pending.extend(inner)
            continue
        counts[block.name] = _measured(block.graph, counts, ("Input", "Output")) if not inner else (MAX_EXPANDED_LAYERS + 1, MAX_NESTING + 1)  # a block holding itself
        pending.pop()
    return _measured(graph, counts, ())


def _measured(graph: Graph, counts: dict[str, tuple[int, int]], ports: tuple[str, ...]) -> tuple[int, int]:
    """The layers and the nesting of one graph from its instances' `counts`, the types in `ports` left out (a block's Inputs and Outputs are its instance's ports)."""
    layers, depth = 0, 0
    for node in graph.nodes.values():
        if node.block is None:
            layers += node.type not in ports
        else:
            inner_layers, inner_depth = counts[node.block.name]
            layers += inner_layers * int(node.params.get("repeat", 1))
            depth = max(depth, inner_depth + 1)
    return layers, depth


def expansion_problem(graph: Graph) -> str | None:
    """Why `graph`'s instances cannot be expanded (too many layers, or nested too deep), or None when they can."""
    layers, depth = _expansion(graph)
    if depth > MAX_NESTING:
        return f"its block instances nest {depth:,} deep (a block holding an instance of a block holding ...), more than the {MAX_NESTING} levels a network may have"
    if layers > MAX_EXPANDED_LAYERS:
        return (
            f"its block instances expand it to {layers:,} layers (each counts its block's layers times its repeat), "
            f"more than the {MAX_EXPANDED_LAYERS:,} a network may hold: nest fewer instances"
        )
    return None
