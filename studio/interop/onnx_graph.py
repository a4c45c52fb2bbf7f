"""The ONNX graph as the operator mappers see it: tensors, folded constants, shapes and the layers emitted."""

# NOTE: constant folding runs the graph twice at two batch sizes (BATCHES): a value that is the
# same in both is a plain constant; one that differs (a reshape target built from Shape(x), a
# zero initial state of the batch's size) is a batch constant, kept as the pair. Mappers read
# a reshape target's batch dimension from the pair, never from a guess.

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio.graph.catalogue import CATALOGUE, ShapeError
from studio.graph.catalogue.base import Shape, plain_batch
from studio.graph.params import ParamValueError
from studio.interop.common import Unmappable
from studio.interop.onnx_fold import (
    FoldBudget,
    FoldTooLarge,
    check_steps,
    model_elements,
    result_elements,
)
from studio.interop.onnx_scopes import NO_SCOPE, Scope, node_origin, node_scope

if TYPE_CHECKING:
    import numpy as np
    import onnx

BATCHES = (7, 11)
INT_TYPES = frozenset({2, 3, 4, 5, 6, 7, 12, 13})
NO_FOLD = frozenset(
    {
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
    }
)


class DamagedTensor(Exception):
    """An initializer whose stored data does not match its declared type and size."""


@dataclass
class Layer:
    """One catalogue layer an ONNX node (or a pattern of nodes) became."""

    type: str
    name: str
    params: dict[str, Any]
    inputs: list[
        str
    ]  # live tensor per input port, in port order ("" leaves an optional port free)
    outputs: list[str]  # the tensor of each output port ("": a piece nothing reads)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    scope: Scope = NO_SCOPE  # the source model's module it came from, as the exporter recorded it

    @property
    def output(self) -> str:
        """The tensor of the first output port."""
        return self.outputs[0]


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """The node's attributes as plain Python values (bytes decoded, tensors as arrays)."""
    from onnx import AttributeProto, helper, numpy_helper

    found: dict[str, Any] = {}
    for attr in node.attribute:
        if attr.type == AttributeProto.TENSOR:
            found[attr.name] = numpy_helper.to_array(attr.t)
            continue
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8", "replace") for v in value]
        found[attr.name] = value
    return found


class ImportContext:
    """The graph being mapped: who produces and consumes each tensor, constants, shapes, layers so far."""

    def __init__(
        self,
        graph: onnx.GraphProto,
        opset: int,
        inferred: dict[str, Shape | None],
        inputs: dict[str, Shape],
        evaluated: dict[tuple[Any, ...], list[np.ndarray]] | None = None,
        budget: FoldBudget | None = None,
    ) -> None:
        self.graph = graph
        self.opset = opset
        # Folded results by node and input values, kept across the rounds of shape inference and folding.
        self.evaluated = {} if evaluated is None else evaluated
        self.budget = FoldBudget(model_elements(graph)) if budget is None else budget  # one per model, shared by the rounds like `evaluated`
        self.nodes: list[onnx.NodeProto] = list(graph.node)
        self.index = {id(n): i for i, n in enumerate(self.nodes)}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}  # the readers of each tensor among the nodes that run on data: `fold` finds them
        for node in self.nodes:
            for name in node.output:
                if name:
                    self.producer[name] = node
        self.outputs = {o.name for o in graph.output}
        self.initializers = {t.name for t in graph.initializer}
        self.inferred = inferred
        self.shapes: dict[str, Shape] = dict(inputs)
        self.consts: dict[str, np.ndarray] = {}
        self.batch_consts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.live: set[str] = set(inputs)
        self.aliases: dict[str, str] = {}
        self.standardized: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}  # input -> (mean, std)
        self.layers: list[Layer] = []
        self.claimed: set[int] = set()
        self.broken: set[str] = set()
        self.problems: list[tuple[str, ...]] = []  # (type, node name[, origin in the source code])
        self.warnings: list[str] = []
        self.int_tensors = {  # live tensors of integer type (token ids)
            i.name
            for i in graph.input
            if i.type.tensor_type.elem_type in INT_TYPES and i.name in inputs
        }
        self.fixed_batch: int | None = (
            None  # the batch size inputs were exported with, if not dynamic
        )
        self.seq_first: dict[
            str, str
        ] = {}  # a time-major (T, N, F) tensor -> its batch-first layer output
        self._attrs: dict[int, dict[str, Any]] = {}
        self.memo: dict[str, Any] = {}  # what the patterns and mappers work out once per tensor

    def release(self) -> None:
        """Let go of the tables of tensors and nodes once the layers are made (a 100,000-node model's take a third of its import's memory)."""
        for table in (self.consts, self.batch_consts, self.shapes, self.inferred, self.producer, self.consumers, self.memo, self._attrs, self.evaluated, self.index, self.aliases):
            table.clear()
        self.live.clear()
        self.nodes = []

    # ----- reading the graph -----
    def attrs(self, node: onnx.NodeProto) -> dict[str, Any]:
        """The node's attributes (cached)."""
        key = id(node)
        if key not in self._attrs:
            self._attrs[key] = attributes(node)
        return self._attrs[key]

    def const(self, name: str) -> np.ndarray | None:
        """The value of a batch-independent constant tensor, or None."""
        return self.consts.get(name)

    def is_constant(self, name: str) -> bool:
        """True for a folded tensor (plain or batch constant)."""
        return name in self.consts or name in self.batch_consts

    def resolve(self, name: str) -> str:
        """The live tensor a name stands for (following pass-through aliases)."""
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def shape(self, name: str) -> Shape | None:
        """A live tensor's shape (batch dimension None): as mapped so far, else as ONNX inferred it."""
        resolved = self.resolve(name)
        return (
            self.shapes.get(resolved)
            or self.inferred.get(name)
            or self.inferred.get(resolved)
        )

    def only_consumer(self, name: str) -> onnx.NodeProto | None:
        """The single node reading `name`, when exactly one does and it is not a graph output."""
        readers = self.consumers.get(name, [])
        if len(readers) != 1 or name in self.outputs:
            return None
        return readers[0]

    def live_inputs(self, node: onnx.NodeProto) -> list[str]:
        """The node's inputs that carry data (neither constants nor empty)."""
        return [n for n in node.input if n and not self.is_constant(n)]

    def is_claimed(self, node: onnx.NodeProto) -> bool:
        return id(node) in self.claimed

    def claim(self, *nodes: onnx.NodeProto) -> None:
        """Mark nodes as taken by a pattern, so no other mapping reads them."""
        self.claimed.update(id(n) for n in nodes)

    # ----- results -----
    def emit(
        self,
        node: onnx.NodeProto,
        layer_type: str,
        params: dict[str, Any],
        inputs: list[str],
        output: str | list[str],
        weights: dict[str, np.ndarray] | None = None,
    ) -> Layer:
        """Add a layer fed by live tensors `inputs`, producing `output` (one per piece for a layer of several); its shape is checked by the catalogue.

        Raises:
            Unmappable: the parameters are out of the catalogue's range or the shapes do not fit.
        """
        spec = CATALOGUE[layer_type]
        values = spec.defaults()
        try:
            for key, value in params.items():
                values[key] = spec.param(key).validate(value)
        except ParamValueError as err:
            raise Unmappable(f"{node.op_type} ({err})") from None
        sources = [self.resolve(t) if t else "" for t in inputs]
        shapes = [self.shapes.get(t) if t else None for t in sources]
        if any(t and s is None for t, s in zip(sources, shapes)):
            raise Unmappable(f"{node.op_type} (an input of unknown shape)")
        try:
            plain, batch, _ = plain_batch(spec, [p.name for p in spec.input_ports(values)], shapes)
            outs = spec.infer(values, plain)
            if spec.batch != "own":  # a folded or shared batch carries through, as the analysis has it
                outs = [(batch, *o[1:]) for o in outs]
        except ShapeError as err:
            raise Unmappable(
                f"{node.op_type} as {layer_type}: {err.message}"
            ) from None
        outputs = [output] if isinstance(output, str) else list(output)
        if len(outputs) != len(spec.output_ports(values)):
            raise Unmappable(f"{node.op_type} as {layer_type}: {len(outputs)} outputs for {len(outs)} pieces")
        layer = Layer(
            layer_type,
            node.name or node.op_type.lower(),
            values,
            sources,
            outputs,
            dict(weights or {}),
            node_scope(node),
        )
        self.layers.append(layer)
        for name, out in zip(outputs, outs):
            if name:
                self.shapes[name] = out
                self.live.add(name)
        return layer

    def alias(self, output: str, source: str) -> None:
        """Let `output` stand for the live tensor `source` (a node that changes nothing)."""
        self.aliases[output] = self.resolve(source)
        self.live.add(output)

    def fail(self, node: onnx.NodeProto, kind: str) -> None:
        """Record a node that has no mapping; what it feeds is skipped unless its outputs get a `stand_in`."""
        self.problems.append((kind, node.name or f"<unnamed {node.op_type}>", node_origin(node)))
        self.broken.update(o for o in node.output if o)

    def stand_in(self, tensors: list[str]) -> None:
        """Let failed outputs whose shape ONNX inferred stand in as live tensors, so the nodes they feed are still mapped and their own failures listed.

        The project is never built once a node failed: a stand-in only lets the mapping go on.
        """
        for name in tensors:
            shape = self.inferred.get(name)
            if name and shape is not None and not self.is_constant(name):
                self.broken.discard(name)
                self.shapes[name] = shape
                self.live.add(name)

    # ----- constant folding -----
    def fold(
        self, runs: tuple[dict[str, tuple[int | None, ...]], ...]
    ) -> list[onnx.NodeProto]:
        """Evaluate every node that does not depend on an input's data; return the others, in order.

        `runs` holds ONNX's inferred shapes at each of the two batch sizes: Shape (and Size) of
        a live tensor whose sizes are known become batch constants. Evaluation uses ONNX's
        reference implementation of each operator, each node's result bounded first (`onnx_fold`).

        Raises:
            FoldTooLarge: the model's folding budget would be passed.
        """
        from onnx import numpy_helper

        for tensor in self.graph.initializer:
            try:
                self.consts[tensor.name] = numpy_helper.to_array(tensor)
            except (ValueError, TypeError) as err:
                raise DamagedTensor(
                    f"tensor {tensor.name!r} cannot be read ({_first_line(err)}): a truncated or damaged file"
                ) from None
        live_nodes = []
        live = self.live
        for node in self.nodes:
            inputs = [n for n in node.input if n]
            op, standard = node.op_type, node.domain in ("", "ai.onnx")
            if op == "Constant" and standard:
                self._fold_node(node, batch=False)
            elif op == "CastLike" and len(inputs) == 2 and self.is_constant(inputs[0]):
                self._cast_like(node)
            elif op in ("Shape", "Size") and inputs and inputs[0] in live:
                if not self._fold_shape(node, [run.get(inputs[0]) for run in runs]):
                    live_nodes.append(node)
                    live.update(o for o in node.output if o)
            elif not live.isdisjoint(inputs) or op in NO_FOLD or not standard:
                live_nodes.append(node)
                live.update(o for o in node.output if o)
            elif all(self.is_constant(n) for n in inputs):
                self._fold_node(node, batch=any(n in self.batch_consts for n in inputs))
            else:  # an input no node produces (an error in the file)
                live_nodes.append(node)
                live.update(o for o in node.output if o)
        self.consumers = {}  # from now on only nodes that run on data count as readers
        for node in live_nodes:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        return live_nodes

    def _cast_like(self, node: onnx.NodeProto) -> None:
        """CastLike(constant, tensor) reads only the tensor's type: a constant's own, else a float, or an integer for token ids."""
        import numpy as np

        like = node.input[1]
        if like in self.consts or like in self.batch_consts:  # dynamo's arange(n) casts its start and step like a constant n
            dtype = (self.consts[like] if like in self.consts else self.batch_consts[like][0]).dtype
        else:
            dtype = np.int64 if like in self.int_tensors else np.float32
        source = node.input[0]
        if source in self.batch_consts:
            first, second = self.batch_consts[source]
            self.budget.charge(node, first.size + second.size)
            self.batch_consts[node.output[0]] = (
                first.astype(dtype),
                second.astype(dtype),
            )
        else:
            self.budget.charge(node, self.consts[source].size)
            self.consts[node.output[0]] = self.consts[source].astype(dtype)

    def _fold_shape(
        self, node: onnx.NodeProto, shapes: list[tuple[int | None, ...] | None]
    ) -> bool:
        import numpy as np

        if any(shape is None or None in shape for shape in shapes):
            return False
        values = []
        for shape in shapes:
            full = list(shape)  # type: ignore[arg-type]
            if node.op_type == "Size":
                values.append(np.array(math.prod(full), dtype=np.int64))
                continue
            attrs = self.attrs(node)
            start, end = attrs.get("start", 0), attrs.get("end")
            values.append(np.array(full[start:end], dtype=np.int64))
        if _same(values[0], values[1]):
            self.consts[node.output[0]] = values[0]
        else:
            self.batch_consts[node.output[0]] = (values[0], values[1])
        return True

    def _fold_node(self, node: onnx.NodeProto, batch: bool) -> None:
        runs = []
        for which in (0, 1) if batch else (0,):
            feeds = {}
            for name in node.input:
                if name:
                    feeds[name] = (
                        self.batch_consts[name][which]
                        if name in self.batch_consts
                        else self.consts[name]
                    )
            runs.append(self._evaluate(node, feeds))
        if runs[0] is None:
            return
        for i, name in enumerate(node.output):
            if not name:
                continue
            first = runs[0][i]
            if batch and not _same(first, runs[1][i]):
                self.batch_consts[name] = (first, runs[1][i])
            else:
                self.consts[name] = first

    def _evaluate(
        self, node: onnx.NodeProto, feeds: dict[str, np.ndarray]
    ) -> list[np.ndarray] | None:
        import numpy as np
        from onnx.reference import ReferenceEvaluator

        key = (id(node), *((v.dtype.str, v.shape, hash(v.tobytes())) for v in feeds.values()))
        if key in self.evaluated:
            return self.evaluated[key]
        try:
            inputs = [feeds.get(n) if n else None for n in node.input]
            count = result_elements(node, inputs, self.attrs(node), self.opset)
            self.budget.charge(node, count)
            check_steps(node, inputs, self.attrs(node), count)
            if node.op_type == "GatherElements":
                return [_gather_elements(node, feeds, self.attrs(node))]
            quick = _quick(node, [feeds[n] for n in node.input if n], self.attrs(node), self.opset)
            results = [quick] if quick is not None else ReferenceEvaluator(_single_node_model(node, feeds, self.opset)).run(None, feeds)
        except FoldTooLarge:
            raise
        except Unmappable as err:
            self.fail(node, err.kind)
            return None
        except Exception as err:  # noqa: BLE001 - the reference operators raise many types on bad input
            self.fail(
                node,
                f"{node.op_type} (its constant inputs cannot be evaluated: {_first_line(err)})",
            )
            return None
        self.evaluated[key] = [np.asarray(r) for r in results]
        return self.evaluated[key]


def _quick(node: onnx.NodeProto, inputs: list[np.ndarray], attrs: dict[str, Any], opset: int) -> np.ndarray | None:
    """The operators TorchScript's shape arithmetic is made of, in NumPy: a constant folding of thousands of nodes (Swin's
    masks and indices) spends its time building an evaluator per node otherwise. None: the reference evaluator runs it."""
    import numpy as np
    from onnx import numpy_helper

    op = node.op_type
    if op == "Constant" and len(node.attribute) == 1:
        attribute = node.attribute[0]
        if attribute.name == "value":
            return numpy_helper.to_array(attribute.t)
        kinds = {"value_int": np.int64, "value_ints": np.int64, "value_float": np.float32, "value_floats": np.float32}
        return np.array(attrs[attribute.name], dtype=kinds[attribute.name]) if attribute.name in kinds else None
    if op == "Identity" and len(inputs) == 1:
        return inputs[0]
    if op == "Concat" and inputs and all(x.ndim for x in inputs):
        return np.concatenate(inputs, axis=int(attrs["axis"]))
    if op == "Gather" and len(inputs) == 2 and inputs[0].ndim and inputs[1].dtype.kind == "i":
        axis = int(attrs.get("axis", 0))
        size = inputs[0].shape[axis]
        if ((inputs[1] < -size) | (inputs[1] >= size)).any():
            return None  # the reference evaluator's message names the bad index
        return np.take(inputs[0], inputs[1], axis=axis)
    if op == "Unsqueeze":
        axes = [int(a) for a in (inputs[1].ravel() if opset >= 13 and len(inputs) == 2 else attrs.get("axes", []))]
        rank = inputs[0].ndim + len(axes)
        if not axes or len({a % rank for a in axes}) != len(axes) or any(not -rank <= a < rank for a in axes):
            return None
        return np.expand_dims(inputs[0], tuple(sorted(a % rank for a in axes)))
    return None


def run_nodes(
    ctx: ImportContext,
    nodes: list[onnx.NodeProto],
    feeds: dict[str, np.ndarray],
    outputs: list[str],
) -> list[np.ndarray]:
    """Run some of the graph's nodes with ONNX's reference evaluator: `feeds` for their live inputs, folded constants (at the first batch size) for the rest."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    produced = {o for n in nodes for o in n.output}
    constants = []
    for node in nodes:
        for name in node.input:
            if name and name not in produced and name not in feeds:
                value = (
                    ctx.batch_consts[name][0]
                    if name in ctx.batch_consts
                    else ctx.consts.get(name)
                )
                if value is None:
                    raise Unmappable("pattern (reads a tensor it was not given)")
                constants.append(numpy_helper.from_array(np.asarray(value), name))
    inputs = [
        helper.make_tensor_value_info(
            k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape
        )
        for k, v in feeds.items()
    ]
    outs = [
        helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
        for o in outputs
    ]
    graph = helper.make_graph(
        list(nodes),
        "pattern",
        inputs,
        outs,
        initializer=list({c.name: c for c in constants}.values()),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ctx.opset)])
    from onnx.reference import ReferenceEvaluator

    return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, feeds)]


def _single_node_model(
    node: onnx.NodeProto, feeds: dict[str, np.ndarray], opset: int
) -> onnx.ModelProto:
    """A model of one node, so it runs at the graph's opset (a bare node would run at the newest one)."""
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info(
            k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape
        )
        for k, v in feeds.items()
    ]
    outputs = [
        helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
        for o in node.output
        if o
    ]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _gather_elements(node: onnx.NodeProto, feeds: dict[str, np.ndarray], attrs: dict[str, Any]) -> np.ndarray:
    """GatherElements in numpy (ONNX's reference runs it with np.choose, which takes at most 32 choices along the axis)."""
    import numpy as np

    data, index = (np.asarray(feeds[name]) for name in node.input[:2])
    axis = int(attrs.get("axis", 0)) % max(data.ndim, 1)
    index = np.where(index < 0, index + data.shape[axis], index).astype(np.int64)
    return np.take_along_axis(data, index, axis=axis)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    import numpy as np

    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
