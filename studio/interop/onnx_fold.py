"""Constant folding's bound: each folded result's size worked out from its inputs' shapes before it is computed, against one budget per model."""

# NOTE: a file of a few kilobytes can ask the folder for terabytes: an Add or a MatMul of (32768, 1)
# and (1, 32768), an Expand, a ConstantOfShape, or a chain of Concats each doubling the last. So
# every node the folder evaluates first gets an upper bound on the elements of all its outputs from
# its inputs' shapes (and the few values that set a size: Expand's shape, Tile's repeats, Range's
# bounds, Pad's pads, ...), and the bounds of everything folded in one model are added up against
# one budget: FOLD_BUDGET elements plus twice the elements the model's own tensors hold (a weight
# may be cast, dequantized or transposed on its way to a layer). An operator with no rule here gets
# its output shapes from ONNX's shape inference; where even that cannot say, it is not folded. Time
# is bounded as well: ONNX's reference operators that loop in Python (convolutions, pools,
# scatters) fold only while their work stays under MAX_FOLD_STEPS.

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.interop.common import ModelImportError, Unmappable

if TYPE_CHECKING:
    import numpy as np
    import onnx

FOLD_BUDGET = 1 << 27  # elements folding may compute in all, beyond the allowance for the model's own tensors
BUDGET_VARIABLE = "LAYER_STUDIO_FOLD_BUDGET"  # replaces FOLD_BUDGET (a whole number of elements)
MODEL_SHARE = 2  # each element of the model's own tensors lets folding compute this many more
SMALL_VALUES = 4096  # integer inputs up to this size are handed to shape inference by value
MAX_FOLD_STEPS = 1 << 21  # the Python-loop steps one folded node may take (about 20 s at the slowest operators' pace)
MAX_PROPAGATED = 1 << 20  # the longest vector shape inference may compute by value; past it, it infers shapes only
MAX_TENSOR_RANK = 64  # the most dimensions a value may have: NumPy's limit, and PyTorch's for reductions (ONNX sets none)

# Every output is at most the NumPy broadcast of all inputs.
BROADCASTING = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "PRelu", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "And", "Or",
    "Xor", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Where", "Max", "Min", "Sum", "Mean", "Clip",
    "Dropout", "LayerNormalization", "RMSNormalization",
})  # fmt: skip
# Every output is at most as large as the largest input: elementwise curves and casts of one
# tensor, its entries moved, cut, reduced or written into (the other inputs are indices and axes).
NOT_LARGER = frozenset({
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Cos", "Cosh", "Erf", "Exp", "Floor", "IsInf",
    "IsNaN", "Log", "Neg", "Not", "Reciprocal", "Round", "Sign", "Sin", "Sinh", "Sqrt", "Tan", "Tanh", "BitwiseNot",
    "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Softplus", "Softsign",
    "ThresholdedRelu", "Gelu", "Mish", "Swish", "Shrink", "Softmax", "LogSoftmax", "Hardmax", "Cast", "CastLike",
    "Identity", "CumSum", "Trilu", "EyeLike", "DynamicQuantizeLinear", "LpNormalization", "MeanVarianceNormalization",
    "LRN", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "DepthToSpace", "SpaceToDepth", "ReverseSequence",
    "Slice", "Compress", "TopK", "Unique", "Scatter", "ScatterElements", "ScatterND", "ArgMax", "ArgMin", "ReduceSum",
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
    "ReduceSumSquare", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "Det",
})  # fmt: skip
# The reference implementation loops in Python over output elements (pools and convolutions over their windows too).
CONVOLUTIONS = frozenset({"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "DeformConv"})
POOLS = frozenset({"MaxPool", "AveragePool", "LpPool", "MaxUnpool"})
LOOPED = frozenset({"ScatterND", "ScatterElements", "Scatter", "GatherND", "Resize", "Upsample", "Unique"})
# The parameters are laid along dimension 1 (reshaped to (-1, 1, ...)) and broadcast onto the first input.
CHANNELWISE = frozenset({"BatchNormalization", "InstanceNormalization", "GroupNormalization"})
PIECES = frozenset({"Split"})


class FoldTooLarge(Exception):
    """Folding would compute more elements than the model's folding budget allows (a hostile or oversized file)."""


class FoldBudget:
    """The elements all constant folding in one model may compute; each node's bound is charged before it runs."""

    def __init__(self, model_elements: int) -> None:
        self.base = base_budget()
        self.limit = self.base + MODEL_SHARE * model_elements
        self.spent = 0

    def charge(self, node: onnx.NodeProto, count: int) -> None:
        """Add a folded node's bound, or raise FoldTooLarge naming the node, the budget and how to raise it."""
        if self.spent + count <= self.limit:
            self.spent += count
            return
        name = node.name or f"<unnamed {node.op_type}>"
        raise FoldTooLarge(
            f"folding its constant sub-graphs would compute more than the folding budget of {self.limit:,} elements "
            f"({self.base:,} plus {MODEL_SHARE} per element of the model's own tensors): node {name!r} ({node.op_type}) "
            f"alone would build up to {count:,} after {self.spent:,}; set {BUDGET_VARIABLE} to a larger number of elements to raise it"
        )


def base_budget() -> int:
    """FOLD_BUDGET, or the whole number of elements the environment's LAYER_STUDIO_FOLD_BUDGET gives."""
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    if not text:
        return FOLD_BUDGET
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise ModelImportError(f"{BUDGET_VARIABLE}={text[:40]!r} is not a whole number of elements (the default is {FOLD_BUDGET:,})")
    return int(text)


def model_elements(graph: onnx.GraphProto) -> int:
    """The elements the model's own tensors hold: initializers and Constant nodes' values."""
    total = sum(math.prod(t.dims) for t in graph.initializer)
    for node in graph.node:
        if node.op_type == "Constant":
            total += sum(math.prod(a.t.dims) for a in node.attribute if a.HasField("t"))
    return total


def result_elements(node: onnx.NodeProto, inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    """An upper bound on the elements of all the node's outputs, from its constant inputs (None: an input left out).

    Raises:
        Unmappable: no bound can be known before computing it; the node is not folded.
    """
    count = _bound(node, inputs, attrs, opset)
    if count is None:
        count = inferred_elements(node, inputs, opset)
    if count is None:
        raise Unmappable(f"{node.op_type} (the size of its constant result cannot be known before computing it)")
    return count


def check_steps(node: onnx.NodeProto, inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], count: int) -> None:
    """Refuse to fold a node whose reference operator would loop in Python longer than MAX_FOLD_STEPS (`count`: its result_elements).

    Raises:
        Unmappable: the node is not folded.
    """
    steps = _steps(node.op_type, inputs, attrs, count, node.op_type in RULED)
    if steps > MAX_FOLD_STEPS:
        raise Unmappable(
            f"{node.op_type} (folding it would take some {steps:,} steps of ONNX's reference operators, more than the {MAX_FOLD_STEPS:,} one node may take)"
        )


def _steps(op: str, inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], count: int, ruled: bool) -> int:
    """The work of evaluating an operator the reference implementation runs in Python loops (0 for the vectorized ones): a hang is as bad as a huge allocation."""
    given = [x for x in inputs if x is not None]
    if op in CONVOLUTIONS:  # every output element (or, transposed, every input element) meets one kernel of a filter
        at = 3 if op == "QLinearConv" else 1
        weight = inputs[at] if len(inputs) > at else None
        window = weight.size // max(weight.shape[0], 1) if weight is not None and weight.ndim else 1
        return max(count, given[0].size if given else 0) * window
    if op in POOLS:
        return count * math.prod(int(k) for k in attrs.get("kernel_shape", [1]))
    if op in LOOPED:
        return count + sum(x.size for x in given)
    if not ruled:  # an operator known only through shape inference: each output may read every input
        return count * max(sum(x.size for x in given[1:]), 1)
    return 0


def _bound(node: onnx.NodeProto, inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int | None:
    """The bound from the operator's own size rule, or None where it has none."""
    op = node.op_type
    given = [x for x in inputs if x is not None]
    largest = max((x.size for x in given), default=0)
    outputs = sum(1 for o in node.output if o)
    if op == "Constant":
        return _constant_elements(node)
    if op == "Identity":
        return 0  # it hands on its input, allocating nothing
    if op in ("Shape", "Size"):
        return max((x.ndim for x in given), default=1) or 1
    if op in BROADCASTING:
        return outputs * max(_elements(broadcast([x.shape for x in given]), largest), largest)
    if op in CHANNELWISE and given:
        trailing = (1,) * max(given[0].ndim - 2, 0)
        shapes = [given[0].shape, *((x.size, *trailing) for x in given[1:])]
        return outputs * max(_elements(broadcast(shapes), largest), largest)
    if op in NOT_LARGER:
        return outputs * largest
    if op in PIECES:
        return largest
    if op == "NonZero":
        return max(given[0].ndim, 1) * given[0].size if given else 0
    if op == "Concat":
        return sum(x.size for x in given)
    rule = SIZE_RULES.get(op)
    if rule is None:
        return None
    try:
        return rule(inputs, attrs, opset)
    except (ValueError, TypeError, IndexError, OverflowError):  # values that make no size: the operator itself refuses them
        return largest


def _constant_elements(node: onnx.NodeProto) -> int:
    total = 0
    for attr in node.attribute:
        if attr.HasField("t"):
            total += math.prod(attr.t.dims)
        elif attr.HasField("sparse_tensor"):
            total += math.prod(attr.sparse_tensor.dims)
        else:
            total += max(len(attr.ints), len(attr.floats), len(attr.strings), 1)
    return total


def broadcast(shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...] | None:
    """NumPy's broadcast of `shapes` (None where they do not broadcast)."""
    rank = max((len(s) for s in shapes), default=0)
    result = [1] * rank
    for shape in shapes:
        for i, size in enumerate(shape, rank - len(shape)):
            if size == result[i] or size == 1:
                continue
            if result[i] != 1:
                return None
            result[i] = size
    return tuple(result)


def _elements(shape: tuple[int, ...] | None, otherwise: int) -> int:
    """The elements of `shape`; `otherwise` for none (the operator refuses its inputs before allocating)."""
    return otherwise if shape is None else math.prod(shape)


def _ints(value: np.ndarray | None) -> list[int]:
    import numpy as np

    if value is None:
        return []
    flat = np.asarray(value).ravel()
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        raise ValueError("not finite")
    return [int(v) for v in flat]


def _expand(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    data, shape = inputs[0], _ints(inputs[1])
    if data is None or any(d < 0 for d in shape):
        return 0
    return _elements(broadcast([data.shape, tuple(shape)]), data.size)


def _tile(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    data = inputs[0]
    return 0 if data is None else data.size * math.prod(max(r, 0) for r in _ints(inputs[1]))


def _constant_of_shape(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    shape = _ints(inputs[0])
    return 0 if any(d < 0 for d in shape) else math.prod(shape)


def _range(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int | None:
    import numpy as np

    if len(inputs) != 3 or any(x is None or x.size != 1 for x in inputs):
        return 0
    start, limit, delta = (np.asarray(x).ravel()[0].item() for x in inputs)  # type: ignore[union-attr]
    if not all(math.isfinite(v) for v in (start, limit, delta)) or delta == 0:
        return None
    return max(math.ceil((limit - start) / delta), 0)


def _matmul(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    a, b = inputs[0], inputs[1]
    if a is None or b is None or not a.ndim or not b.ndim:
        return 0
    left = a.shape if a.ndim > 1 else (1, a.shape[0])
    right = b.shape if b.ndim > 1 else (b.shape[0], 1)
    batch = broadcast([left[:-2], right[:-2]])
    return 0 if batch is None else math.prod(batch) * left[-2] * right[-1]


def _gemm(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    a, b = inputs[0], inputs[1]
    if a is None or b is None or a.ndim != 2 or b.ndim != 2:
        return 0
    rows = a.shape[1] if attrs.get("transA") else a.shape[0]
    cols = b.shape[0] if attrs.get("transB") else b.shape[1]
    c = inputs[2] if len(inputs) > 2 else None
    return _elements(broadcast([(rows, cols), c.shape if c is not None else ()]), rows * cols)


def _gather(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    data, index = inputs[0], inputs[1]
    if data is None or index is None or not data.ndim:
        return 0
    if data.ndim - 1 + index.ndim > MAX_TENSOR_RANK:  # numpy's take crashes the process on some such ranks
        raise Unmappable(f"Gather (its result would have {data.ndim - 1 + index.ndim} dimensions: a tensor has at most {MAX_TENSOR_RANK})")
    axis = int(attrs.get("axis", 0)) % data.ndim
    return math.prod(data.shape[:axis]) * index.size * math.prod(data.shape[axis + 1 :])


def _gather_elements(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    data, index = inputs[0], inputs[1]
    if data is None or index is None or data.ndim != index.ndim or not data.ndim:
        return 0
    axis = int(attrs.get("axis", 0)) % data.ndim
    lined = (*data.shape[:axis], index.shape[axis], *data.shape[axis + 1 :])  # take_along_axis broadcasts the other dimensions
    return _elements(broadcast([lined, index.shape]), index.size)


def _gather_nd(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    data, index = inputs[0], inputs[1]
    if data is None or index is None or not index.ndim:
        return 0
    start = int(attrs.get("batch_dims", 0)) + index.shape[-1]
    return math.prod(index.shape[:-1]) * math.prod(data.shape[start:])


def _one_hot(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    index, depth = inputs[0], _ints(inputs[1])
    return 0 if index is None or len(depth) != 1 else index.size * max(depth[0], 0)


def _pad(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    data = inputs[0]
    if data is None:
        return 0
    pads = _ints(inputs[1]) if opset >= 11 and len(inputs) > 1 else [int(p) for p in attrs.get("pads", [])]
    axes = _ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else list(range(data.ndim))
    if len(pads) != 2 * len(axes) or any(not -data.ndim <= a < data.ndim for a in axes):
        return data.size
    sizes = list(data.shape)
    for i, axis in enumerate(axes):
        sizes[axis] += pads[i] + pads[i + len(axes)]
    return math.prod(max(s, 0) for s in sizes)


def _resize(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int | None:
    import numpy as np

    data = inputs[0]
    if data is None:
        return 0
    if opset < 10 or len(inputs) == 2:  # Upsample, or Resize-10: X and scales
        scales = inputs[1] if len(inputs) == 2 else np.asarray(attrs.get("scales", []), np.float64)
        sizes = None
    else:
        scales = inputs[2] if len(inputs) > 2 else None
        sizes = inputs[3] if len(inputs) > 3 else None
    axes = [int(a) % max(data.ndim, 1) for a in attrs.get("axes", range(data.ndim))]
    out = list(data.shape)
    if sizes is not None and sizes.size:
        wanted = _ints(sizes)
        if len(wanted) != len(axes) or any(s < 0 for s in wanted):
            return data.size
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            ratios = [w / max(data.shape[a], 1) for w, a in zip(wanted, axes)]
            scale = max(ratios) if policy == "not_smaller" else min(ratios)
            wanted = [math.ceil(data.shape[a] * scale) + 1 for a in axes]
        for axis, size in zip(axes, wanted):
            out[axis] = size
        return math.prod(out)
    if scales is None or not scales.size:
        return None
    factors = [float(s) for s in np.asarray(scales, np.float64).ravel()]
    if len(factors) != len(axes) or not all(math.isfinite(f) and f >= 0 for f in factors):
        return data.size
    for axis, factor in zip(axes, factors):
        out[axis] = math.ceil(data.shape[axis] * factor)
    return math.prod(out)


def _quantized(inputs: Sequence[np.ndarray | None], attrs: dict[str, Any], opset: int) -> int:
    """(De)quantization: a scale or zero point laid along `axis` and broadcast onto the data, or repeated `block_size` times."""
    data = inputs[0]
    if data is None or not data.ndim:
        return 0 if data is None else 1
    axis, block = int(attrs.get("axis", 1)) % data.ndim, int(attrs.get("block_size", 0))
    out, repeated = data.size, 0
    for value in inputs[1:]:
        if value is None or value.size <= 1:
            continue
        if block > 0:
            repeated += value.size * block
            continue
        dims = [1] * data.ndim
        dims[axis] = value.size
        out = max(out, _elements(broadcast([data.shape, tuple(dims)]), out))
    return out + repeated


SIZE_RULES: dict[str, Any] = {
    "QuantizeLinear": _quantized, "DequantizeLinear": _quantized,
    "Expand": _expand, "Tile": _tile, "ConstantOfShape": _constant_of_shape, "Range": _range, "MatMul": _matmul,
    "MatMulInteger": _matmul, "Gemm": _gemm, "Gather": _gather, "GatherElements": _gather_elements,
    "GatherND": _gather_nd, "OneHot": _one_hot, "Pad": _pad, "Resize": _resize, "Upsample": _resize,
}  # fmt: skip
FIXED_RANKS = {"Shape": 1, "Range": 1, "Size": 0, "NonZero": 2, "Flatten": 2}
PROPAGATING = frozenset({"Constant", "Shape", "Size", "Cast", "Squeeze", "Unsqueeze", "Slice", "Identity", "Gather", "Add", "Sub", "Mul", "Concat"})
SCANNED = PROPAGATING | {"Reshape", "Expand", "ConstantOfShape", "OneHot"}  # and the operators `_rank` sees add dimensions
RULED = BROADCASTING | NOT_LARGER | CHANNELWISE | PIECES | SIZE_RULES.keys() | {"Constant", "Identity", "Shape", "Size", "NonZero", "Concat"}


def inferred_elements(node: onnx.NodeProto, inputs: Sequence[np.ndarray | None], opset: int) -> int | None:
    """The elements of the node's outputs as ONNX's shape inference gives them from its inputs' shapes (small integer inputs by value); None where it cannot say."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    declared, constants = [], []
    for name, value in zip(node.input, inputs):
        if not name or value is None:
            continue
        if value.dtype.kind in "iu" and value.size <= SMALL_VALUES:
            constants.append(numpy_helper.from_array(np.asarray(value), name))
        declared.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), value.shape))
    outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o]
    graph = helper.make_graph([node], "bound", declared, outputs, initializer=constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=True, data_prop=True)
    except Exception:  # noqa: BLE001 - inference raises InferenceError, ValidationError and others
        return None
    found = {v.name: v.type.tensor_type for v in [*inferred.graph.output, *inferred.graph.value_info]}
    total = 0
    for name in (o for o in node.output if o):
        tensor = found.get(name)
        if tensor is None or not tensor.HasField("shape"):
            return None
        dims = tensor.shape.dim
        if any(not d.HasField("dim_value") or d.dim_value < 0 for d in dims):
            return None
        total += math.prod(d.dim_value for d in dims)
    return total


@dataclass(frozen=True)
class Step:
    """A node as the by-value scan reads it, taken from the protobuf once per model (reading a message's fields is slow)."""

    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    held: int = 0  # a Constant's elements
    held_rank: int = 1  # a Constant's rank
    axes: int = 0  # an Unsqueeze's axes given as an attribute
    name: str = ""


@dataclass(frozen=True)
class Scan:
    """What ONNX's shape inference would build, bounded before it runs: its longest vector computed by value, and its deepest value."""

    longest: int
    too_deep: tuple[Step, int] | None = None  # the first node making a value of more than MAX_TENSOR_RANK dimensions, and their number

    def rank_refusal(self) -> str | None:
        """Why the model is refused, naming the first node that makes a value of more than MAX_TENSOR_RANK dimensions; None when none does."""
        if self.too_deep is None:
            return None
        step, rank = self.too_deep
        return f"node {step.name or f'<unnamed {step.op}>'!r} ({step.op}) makes a value of up to {rank:,} dimensions: a tensor has at most {MAX_TENSOR_RANK}"


def scan_steps(nodes: Sequence[onnx.NodeProto]) -> list[Step]:
    """The nodes of the default domain as `value_scan` reads them; none where no node computes values or adds dimensions (nothing to follow)."""
    if SCANNED.isdisjoint(node.op_type for node in nodes):
        return []
    steps = []
    for node in nodes:
        if node.domain not in ("", "ai.onnx"):
            continue
        op = node.op_type
        held = _constant_elements(node) if op == "Constant" else 0
        held_rank = max((len(a.t.dims) for a in node.attribute if a.HasField("t")), default=1) if op == "Constant" else 1
        axes = sum(len(a.ints) for a in node.attribute if a.name == "axes") if op == "Unsqueeze" else 0
        steps.append(Step(op, tuple(n for n in node.input if n), tuple(node.output), held, held_rank, axes, node.name))
    return steps


def propagated_values(steps: Iterable[Step], sources: dict[str, int], ranks: dict[str, int]) -> int:
    """An upper bound on the longest vector ONNX's shape inference computes by value (`data_prop`) from `sources` (tensors given by value: their sizes)."""
    return value_scan(steps, sources, ranks).longest


def value_scan(steps: Iterable[Step], sources: dict[str, int], ranks: dict[str, int]) -> Scan:
    """Upper bounds on the longest vector ONNX's shape inference computes by value (`data_prop`) from `sources` (tensors
    given by value: their sizes), and on the rank of every value it infers (the ranks `ranks` declares followed).

    Its data propagation runs Shape, Size, Cast, Slice, Gather, Squeeze, Unsqueeze, Add, Sub, Mul and
    Concat on one-dimensional integer values inside the C++ inference, unbounded: a chain of Concats
    each doubling the last asks it for gigabytes. A Shape's value is its input's rank, followed here
    from `ranks` (the ranks the file declares) through the operators that set or add dimensions.
    """
    found = dict(sources)
    ranks = dict(ranks)
    known = max(ranks.values(), default=0)  # a rank nothing here follows is at most the longest declared
    longest = max(found.values(), default=0)
    too_deep = None
    for step in steps:
        if all(o in sources for o in step.outputs):
            continue  # a node given by value is left out of inference
        op, names = step.op, step.inputs
        rank = _rank(step, found, ranks, known)
        if rank > MAX_TENSOR_RANK and too_deep is None:
            too_deep = (step, rank)
        size = None
        if op in PROPAGATING:
            ins = [found.get(n, 0) for n in names]
            if op == "Constant":
                size = step.held
            elif op == "Shape":
                size = ranks.get(names[0], known) if names else 0
            elif op == "Size":
                size = 1
            elif op == "Concat":
                size = sum(ins)
            elif op == "Gather":
                size = ins[1] if len(ins) > 1 else 0
            elif op in ("Add", "Sub", "Mul"):
                size = max(ins, default=0)
            else:  # Cast, Squeeze, Unsqueeze, Slice, Identity
                size = ins[0] if ins else 0
            longest = max(longest, size)
        for name in step.outputs:
            ranks[name] = rank
            if size is not None:
                found[name] = size
    return Scan(longest, too_deep)


def _rank(step: Step, found: dict[str, int], ranks: dict[str, int], known: int) -> int:
    """An upper bound on the rank of the node's outputs: the largest of its inputs', unless the operator sets or adds dimensions."""
    op, names = step.op, step.inputs
    if op in FIXED_RANKS:
        return FIXED_RANKS[op]
    if op == "Constant":
        return step.held_rank
    if op == "ConstantOfShape":
        return found.get(names[0], known) if names else 0
    widest = max((ranks.get(n, known) for n in names), default=known)
    if op == "Reshape" and len(names) > 1:
        return found.get(names[1], known)
    if op == "Expand" and len(names) > 1:
        return max(widest, found.get(names[1], known))
    if op == "Unsqueeze":
        added = found.get(names[1], 1) if len(names) > 1 else step.axes
        return ranks.get(names[0], known) + added if names else added
    if op == "Gather" and len(names) > 1:
        return max(ranks.get(names[0], known) - 1, 0) + ranks.get(names[1], known)
    if op == "OneHot":
        return widest + 1
    return widest
