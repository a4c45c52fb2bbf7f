"""ONNX files to editable projects: operators mapped onto catalogue layers, with their weights.

The import runs in steps, so a bad file never half-builds a project: the file is read and
vetted (`onnx_files`), shapes are inferred with a symbolic batch, constant sub-graphs are
folded (`onnx_graph`), exporter patterns are recognised (`onnx_patterns`, `onnx_sequence`,
`onnx_recurrent`), the remaining operators are mapped one by one (`onnx_ops`, `onnx_tensors`), and only when
every node has a mapping is the graph built, laid out and its weights keyed by the generated
PyTorch model's state-dict names. Every operator without a mapping is reported at once.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.graph.bulk import collector_paused
from studio.graph.catalogue import CATALOGUE
from studio.graph.catalogue.base import Shape
from studio.graph.model import Graph
from studio.graph.project import Project
from studio.graph.weights_file import node_key
from studio.interop.common import (
    ImportedModel,
    InternalImportError,
    ModelImportError,
    NameTable,
    Unmappable,
    internal_error,
    lay_out,
    project_name,
    unsupported_error,
)
from studio.interop.module_blocks import regrouped
from studio.interop.onnx_dense import folded_linear, matmul_add
from studio.interop.onnx_dot_attention import dot_attention, nan_guard
from studio.interop.onnx_family import fallback, family_mapper
from studio.interop.onnx_files import default_opset, read_model
from studio.interop.onnx_fold import (
    MAX_PROPAGATED,
    MAX_TENSOR_RANK,
    FoldBudget,
    FoldTooLarge,
    Step,
    model_elements,
    scan_steps,
    value_scan,
)
from studio.interop.onnx_graph import (
    BATCHES,
    INT_TYPES,
    DamagedTensor,
    ImportContext,
    Layer,
)
from studio.interop.onnx_ops import MAPPERS, Mapper
from studio.interop.onnx_patterns import (
    Match,
    Matcher,
    adaptive_pool_1d,
    gelu_erf,
    gelu_tanh,
    group_norm,
    lrn,
    normalize,
    pad_into,
    shuffle,
    silu,
    softplus,
)
from studio.interop.onnx_pooling import POOL_MAPPERS
from studio.interop.onnx_recurrent import recurrent
from studio.interop.onnx_scopes import Scope, node_scope
from studio.interop.onnx_sequence import attention
from studio.interop.onnx_slices import sequences_as_slices
from studio.interop.onnx_spatial import SPATIAL_MAPPERS
from studio.interop.onnx_tensors import TENSOR_MAPPERS

if TYPE_CHECKING:
    import numpy as np
    import onnx

FLOAT_INPUTS = frozenset({1, 10, 11, 16})
SMALL = 4096  # elements: tensors up to this size go to shape inference by value, larger ones by shape only
MAX_ROUNDS = 40  # each round can settle one more computed reshape target: ShuffleNetV2 chains 16 of them, one per unit
PATTERN_LIBRARY: dict[str, tuple[frozenset[str], Matcher]] = {  # most specific first: a node is taken by the first match
    "attention": (frozenset({"Softmax"}), attention),
    "dot_attention": (frozenset({"Softmax"}), dot_attention),
    "nan_guard": (frozenset({"Where"}), nan_guard),
    "recurrent": (frozenset({"LSTM", "GRU", "RNN"}), recurrent),
    "group_norm": (frozenset({"InstanceNormalization"}), group_norm),
    "lrn": (frozenset({"Mul"}), lrn),
    "gelu_erf": (frozenset({"Erf"}), gelu_erf),
    "gelu_tanh": (frozenset({"Tanh"}), gelu_tanh),
    "softplus": (frozenset({"Softplus"}), softplus),
    "silu": (frozenset({"Sigmoid"}), silu),
    "adaptive_pool_1d": (frozenset({"Unsqueeze"}), adaptive_pool_1d),
    "folded_linear": (frozenset({"MatMul", "Gemm"}), folded_linear),
    "matmul_add": (frozenset({"MatMul"}), matmul_add),
    "pad_into": (frozenset({"Pad"}), pad_into),
    "shuffle": (frozenset({"Reshape"}), shuffle),
    "normalize": (frozenset({"ReduceL1", "ReduceL2"}), normalize),
}


def registered_patterns() -> list[tuple[frozenset[str], Matcher]]:
    """The patterns some layer family registers (`LayerSpec.onnx_patterns`), in the library's order."""
    wanted = {name for spec in CATALOGUE.values() for name in spec.onnx_patterns}
    return [pattern for name, pattern in PATTERN_LIBRARY.items() if name in wanted]


def supported_operators() -> list[str]:
    """The ONNX operator types the importer maps (some only in the forms its patterns recognise)."""
    return sorted(
        {
            *MAPPERS,
            *POOL_MAPPERS,
            *TENSOR_MAPPERS,
            *SPATIAL_MAPPERS,
            *(rule.op for spec in CATALOGUE.values() for rule in spec.onnx_import),
            *("LSTM", "GRU", "RNN", "Erf", "Constant", "Shape"),
        }
    )


@collector_paused()
def import_onnx(path: str | Path, blocks: bool = True) -> ImportedModel:
    """Import the ONNX model at `path` as a project with its weights; with `blocks`, its modules become blocks (`module_blocks`).

    Raises:
        UnsupportedLayersError: operators with no mapping (every one listed: type, count, first node).
        InternalImportError: an exception the importer did not foresee (a bug), naming the node it handled.
        ModelImportError: the file cannot be read, is hostile, or its graph cannot be analysed.
    """
    path = Path(path)
    try:
        import onnx  # noqa: F401 - only to say clearly that it is missing
    except ImportError:
        raise ModelImportError(
            f"{path}: importing ONNX models needs the onnx package (pip install onnx)"
        ) from None
    model = read_model(path)
    try:
        return _import(model, path, blocks)
    except InternalImportError as err:
        raise _invalid_model(model, path) or err from err.__cause__
    except ModelImportError:
        raise
    except Exception as err:  # the file was read and vetted: what fails now is the importer's bug
        raise _invalid_model(model, path) or internal_error(str(path), err) from err


def _invalid_model(model: onnx.ModelProto, path: Path) -> ModelImportError | None:
    """The file's fault, where onnx's checker finds the model invalid; None where it is valid (the failure is a bug of ours).

    Asked only once the importer has failed, so valid models that the checker would fuss over still import.
    """
    import onnx.checker

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        reason = (str(err).strip().splitlines() or ["?"])[0][:300]
        return ModelImportError(f"{path}: is not a valid ONNX model ({reason})")
    except Exception:  # noqa: BLE001 - a checker that cannot decide leaves the failure ours
        return None
    return None


def _import(model: onnx.ModelProto, path: Path, blocks: bool = True) -> ImportedModel:
    graph = model.graph
    sequences_as_slices(graph)
    inputs, problems, fixed_batch = _inputs(graph)
    ctx, live = _fold_with_shapes(model, path, inputs)
    ctx.fixed_batch = fixed_batch
    ctx.problems.extend(problems)
    deferred = _match_patterns(ctx, live, path)
    mappers: dict[str, Mapper | None] = {}  # by operator type: finding a type's family rules scans the catalogue
    for node in live:
        try:
            _map_node(ctx, node, deferred, mappers)
        except ModelImportError:
            raise
        except Exception as err:  # as `_bugs_named_after` says, without a context manager per node
            raise internal_error(str(path), err, f"node {node.name or '<unnamed>'!r} ({node.op_type})") from err
    _check_outputs(ctx)
    if ctx.problems:
        raise unsupported_error(path.name, "operator", ctx.problems)
    warnings = list(ctx.warnings)
    if fixed_batch is not None:
        warnings.append(
            f"the model was exported for a batch of {fixed_batch}; the imported network takes any batch size"
        )
    project, state = _build(ctx, path, model, warnings if blocks else None)
    return ImportedModel(project, state, warnings)


# ----- inputs and shapes -----
def _fold_with_shapes(
    model: onnx.ModelProto, path: Path, inputs: dict[str, Shape]
) -> tuple[ImportContext, list[onnx.NodeProto]]:
    """Infer shapes and fold constants, again with what folding found until every Shape node is resolved.

    A reshape target computed with operators ONNX's shape inference does not propagate
    (Div, Cast) leaves the shapes after it unknown; folding computes it, and the next round
    of inference starts from the folded values.
    """
    known: list[dict[str, np.ndarray]] = [{}, {}]
    evaluated: dict[tuple[Any, ...], list[np.ndarray]] = {}  # each round refolds the same nodes, mostly on the same values
    budget = FoldBudget(model_elements(model.graph))  # charged only for what `evaluated` does not hold yet
    declared = _declared(model)
    for _ in range(MAX_ROUNDS):
        by_value = _computes_by_value(declared, known, path)
        runs = tuple(
            _infer_shapes(model, path, batch, values, by_value)
            for batch, values in zip(BATCHES, known)
        )
        inferred = {
            name: shape
            for name in runs[0]
            if (shape := _batch_first(runs[0][name], runs[1].get(name))) is not None
        }
        ctx = ImportContext(model.graph, default_opset(model) or 0, inferred, inputs, evaluated, budget)
        try:
            live = _needed(ctx, ctx.fold(runs))
        except (DamagedTensor, FoldTooLarge) as err:
            raise ModelImportError(f"{path}: {err}") from None
        unknown = any(
            n.op_type in ("Shape", "Size")
            or any(o not in inferred for o in n.output if o)
            for n in live
        )
        folded = [_small_folded(ctx, which) for which in (0, 1)]
        if not unknown or folded[0].keys() == known[0].keys():
            return ctx, live
        known = folded
    return ctx, live


def _small_folded(ctx: ImportContext, which: int) -> dict[str, np.ndarray]:
    """Folded node results small enough to hand to shape inference, at batch size BATCHES[which]."""
    found = {}
    for name, value in ctx.consts.items():
        if name not in ctx.initializers and value.size <= SMALL:
            found[name] = value
    for name, pair in ctx.batch_consts.items():
        if pair[which].size <= SMALL:
            found[name] = pair[which]
    return found


def _inputs(
    graph: onnx.GraphProto,
) -> tuple[dict[str, Shape], list[tuple[str, str]], int | None]:
    """Each real input's shape (batch None), problems with inputs that cannot be one, and a fixed batch size if any."""
    initialized = {t.name for t in graph.initializer}
    shapes: dict[str, Shape] = {}
    problems = []
    batches = set()
    for value in graph.input:
        if value.name in initialized:
            continue
        tensor = value.type.tensor_type
        dims = list(tensor.shape.dim)
        if len(dims) < 2:
            problems.append(
                (
                    f"input of rank {len(dims)} (Layer Studio inputs have a batch and at least one more dimension)",
                    value.name,
                )
            )
            continue
        if tensor.elem_type not in FLOAT_INPUTS | INT_TYPES:
            problems.append((f"input of element type {tensor.elem_type}", value.name))
            continue
        sizes = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in dims[1:]
        ]
        if None in sizes:
            problems.append(
                (
                    "input with a size that is not fixed (only the batch may vary)",
                    value.name,
                )
            )
            continue
        batches.add(dims[0].dim_value if dims[0].HasField("dim_value") else None)
        shapes[value.name] = (None, *sizes)
    fixed = (
        next(iter(batches))
        if len(batches) == 1 and None not in batches and 0 not in batches
        else None
    )
    return shapes, problems, fixed


def _declared(model: onnx.ModelProto) -> tuple[list[Step], dict[str, int], dict[str, int]]:
    """The nodes as the by-value scan reads them, the sizes of the initializers shape inference is given by value, and the ranks of every initializer and input."""
    graph = model.graph
    sizes = {t.name: math.prod(t.dims) for t in graph.initializer}
    ranks = {t.name: len(t.dims) for t in graph.initializer}
    ranks.update((v.name, len(v.type.tensor_type.shape.dim)) for v in graph.input)
    return scan_steps(graph.node), {name: size for name, size in sizes.items() if size <= SMALL}, ranks


def _computes_by_value(declared: tuple[list[Step], dict[str, int], dict[str, int]], known: list[dict[str, np.ndarray]], path: Path) -> bool:
    """Whether ONNX's shape inference may compute values (`data_prop`) this round: only while the vectors it would build stay short (`onnx_fold.value_scan`).

    Raises:
        ModelImportError: a value would have more than MAX_TENSOR_RANK dimensions (inference would build them all).
    """
    steps, sources, ranks = declared[0], dict(declared[1]), dict(declared[2])
    for values in known:
        sources.update((name, max(value.size, sources.get(name, 0))) for name, value in values.items())
        ranks.update((name, max(value.ndim, ranks.get(name, 0))) for name, value in values.items())
    scan = value_scan(steps, sources, ranks)
    refusal = scan.rank_refusal()
    if refusal is not None:
        raise ModelImportError(f"{path}: {refusal}")
    return scan.longest <= MAX_PROPAGATED


def _infer_shapes(
    model: onnx.ModelProto, path: Path, batch: int, known: dict[str, np.ndarray], by_value: bool = True
) -> dict[str, tuple[int | None, ...]]:
    """Every tensor's shape as ONNX infers it when each input's first dimension is `batch` (None: unknown).

    Tensors in `known` (folded values at this batch size) are given as constants in place of
    the nodes that compute them. Large weights are declared by shape only, not copied.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    small = [t for t in graph.initializer if math.prod(t.dims) <= SMALL]
    small += [numpy_helper.from_array(value, name) for name, value in known.items()]
    large = [t for t in graph.initializer if math.prod(t.dims) > SMALL]
    inputs = []
    for value in graph.input:
        if value.name in initialized:
            continue
        copy = onnx.ValueInfoProto()
        copy.CopyFrom(value)
        dims = copy.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_value = batch
        inputs.append(copy)
    inputs += [
        helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in large
    ]
    outputs = [
        helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
        for o in graph.output
    ]
    nodes = [n for n in graph.node if not all(o in known for o in n.output if o)] if known else graph.node
    light = helper.make_graph(
        nodes, graph.name or "model", inputs, outputs, initializer=small
    )
    probe = helper.make_model(
        light,
        opset_imports=list(model.opset_import),
        ir_version=max(model.ir_version, 4),
    )
    try:
        inferred = onnx.shape_inference.infer_shapes(
            probe, check_type=False, strict_mode=False, data_prop=by_value
        )
    except Exception as err:  # noqa: BLE001 - inference raises InferenceError, ValidationError and others
        raise ModelImportError(
            f"{path}: its tensor shapes cannot be worked out ({str(err).strip().splitlines()[0][:200]})"
        ) from None
    found: dict[str, tuple[int | None, ...]] = {}
    for value in [
        *inferred.graph.value_info,
        *inferred.graph.input,
        *inferred.graph.output,
    ]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            found[value.name] = tuple([d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim])
    for t in graph.initializer:
        found[t.name] = tuple(t.dims)
    deep = next((name for name, shape in found.items() if len(shape) > MAX_TENSOR_RANK), None)
    if deep is not None:
        maker = next((f"node {n.name or f'<unnamed {n.op_type}>'!r} ({n.op_type})" for n in graph.node if deep in n.output), "the model")
        raise ModelImportError(f"{path}: {deep!r}, made by {maker}, has {len(found[deep]):,} dimensions: a tensor has at most {MAX_TENSOR_RANK}")
    return found


def _batch_first(
    first: tuple[int | None, ...], second: tuple[int | None, ...] | None
) -> Shape | None:
    """The catalogue form (None for the batch) of a shape inferred at both batch sizes, when the batch leads it."""
    if not first or second is None or (first[0], second[0]) != BATCHES or first[1:] != second[1:] or None in first:
        return None
    return (None, *first[1:])


def _needed(ctx: ImportContext, live: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """The live nodes the graph's outputs depend on, in order (dead branches are left out)."""
    wanted = set(ctx.outputs)
    keep = []
    for node in reversed(live):
        if any(o in wanted for o in node.output):
            keep.append(node)
            wanted.update(n for n in node.input if n)
    return keep[::-1]


# ----- mapping -----
@contextlib.contextmanager
def _bugs_named_after(node: onnx.NodeProto, path: Path) -> Iterator[None]:
    """Report an exception no mapping foresaw, raised while `node` is handled, as an internal error naming the node."""
    try:
        yield
    except ModelImportError:
        raise
    except Exception as err:
        where = f"node {node.name or '<unnamed>'!r} ({node.op_type})"
        raise internal_error(str(path), err, where) from err


def _match_patterns(
    ctx: ImportContext, live: list[onnx.NodeProto], path: Path
) -> dict[int, Match]:
    """Find every exporter pattern; return the matches by the id of their last node."""
    deferred: dict[int, Match] = {}
    for anchors, matcher in registered_patterns():
        for node in live:
            if (
                node.op_type not in anchors
                or ctx.is_claimed(node)
                or node.domain not in ("", "ai.onnx")
            ):
                continue
            with _bugs_named_after(node, path):
                match = matcher(ctx, node)
            if match is None:
                continue
            ctx.claim(*match.nodes)
            last = match.anchor if match.anchor is not None else max(match.nodes, key=lambda n: ctx.index[id(n)])
            deferred[id(last)] = match
    return deferred


def _map_node(
    ctx: ImportContext, node: onnx.NodeProto, deferred: dict[int, Match], mappers: dict[str, Mapper | None]
) -> None:
    """Map one node (or emit the pattern it ends).

    A node fed by a failed one is still mapped where the failed output's shape is known (a
    stand-in), so every unmappable node is listed; where it is not, the node is skipped
    unless its type has no mapping at all.
    """
    match = deferred.get(id(node))
    if match is None and ctx.is_claimed(node):
        return
    members = match.nodes if match else [node]
    produced = {o for n in members for o in n.output}
    if node.domain not in ("", "ai.onnx"):
        mapper = None
    elif node.op_type in mappers:
        mapper = mappers[node.op_type]
    else:
        mapper = mappers[node.op_type] = _mapper(node.op_type)
    unknown = (
        match is None and mapper is None and node.op_type not in ("LSTM", "GRU", "RNN")
    )
    if not unknown and ctx.broken and any(
        n in ctx.broken for m in members for n in m.input if n not in produced
    ):
        ctx.broken.update(produced)
        return
    try:
        if match is not None:
            made = len(ctx.layers)
            match.emit(ctx)
            _scoped_across(ctx.layers[made:], match.nodes)
        elif node.domain not in ("", "ai.onnx"):
            raise Unmappable(f"{node.domain}.{node.op_type}")
        elif mapper is None:
            recurrent = node.op_type in ("LSTM", "GRU", "RNN")
            raise Unmappable(
                f"{node.op_type} (in a form not recognised)"
                if recurrent
                else node.op_type
            )
        else:
            mapper(ctx, node)
    except Unmappable as err:
        ctx.fail(node, err.kind)
        ctx.broken.update(produced)
        ctx.stand_in(list(node.output))


def _scoped_across(layers: list[Layer], nodes: list[onnx.NodeProto]) -> None:
    """Layers made from nodes of several modules (attention from its q, k, v and output projections) sit in the module that holds them all."""
    scopes = [found for found in map(node_scope, nodes) if found]
    if len({found.path for found in scopes}) < 2:
        return
    depth = 0
    while all(len(found.path) > depth and found.path[depth] == scopes[0].path[depth] for found in scopes):
        depth += 1
    for layer in layers:
        op = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", layer.type).lower()
        layer.scope = Scope(scopes[0].path[:depth], scopes[0].classes[:depth], op)


def _mapper(op_type: str) -> Mapper | None:
    """The importer's own mapper of `op_type` with the families' rules as its fallback, or either alone."""
    table = MAPPERS.get(op_type) or POOL_MAPPERS.get(op_type) or TENSOR_MAPPERS.get(op_type) or SPATIAL_MAPPERS.get(op_type)
    family = family_mapper(op_type)
    if table is not None and family is not None:
        return fallback(table, family)
    return table or family


def _check_outputs(ctx: ImportContext) -> None:
    for value in ctx.graph.output:
        name = value.name
        if name in ctx.broken:
            continue
        if ctx.is_constant(name):
            ctx.problems.append(
                ("output that is a constant (it does not depend on any input)", name)
            )
        elif ctx.resolve(name) not in ctx.shapes:
            ctx.problems.append(("output that no mapped layer produces", name))


# ----- the project -----
def _build(
    ctx: ImportContext, path: Path, model: onnx.ModelProto, warnings: list[str] | None = None
) -> tuple[Project, dict[str, np.ndarray]]:
    """Build the laid-out project and its weights (keyed by node id) from the mapped layers; regrouped by module unless `warnings` is None."""
    from studio.graph.shapes import snapshot_analysis

    graph = Graph()
    names = NameTable()
    initialized = {t.name for t in ctx.graph.initializer}
    real = [
        i.name
        for i in ctx.graph.input
        if i.name not in initialized and i.name in ctx.shapes
    ]
    input_names = {n: names.take(n, "input") for n in real}
    output_names = [names.take(o.name, "output") for o in ctx.graph.output]
    made: dict[str, tuple[str, str]] = {}  # tensor -> (node id, output port)
    for tensor, name in input_names.items():
        dtype = "int64" if tensor in ctx.int_tensors else "float32"
        mean, std = ctx.standardized.get(tensor, ((), ()))
        made[tensor] = (graph.add_node(
            "Input", name, {"shape": ctx.shapes[tensor][1:], "dtype": dtype, "mean": mean, "std": std}
        ).id, "out")
    owners: dict[str, Layer] = {}
    for layer in ctx.layers:
        node = graph.add_node(
            layer.type, names.take(layer.name, layer.type.lower()), layer.params
        )
        ports = node.spec.input_ports(node.params)
        for port, tensor in zip(ports, layer.inputs):
            if tensor:
                graph.connect(*made[tensor], node.id, port.name)
        for port, tensor in zip(node.spec.output_ports(node.params), layer.outputs):
            if tensor:
                made[tensor] = (node.id, port.name)
        owners[node.id] = layer
    for value, name in zip(ctx.graph.output, output_names):
        sink = graph.add_node("Output", name)
        graph.connect(*made[ctx.resolve(value.name)], sink.id, "in")
    del made
    ctx.release()
    analysis = snapshot_analysis(graph)  # read, not followed: a live one would stay subscribed to the imported graph
    if not analysis.is_valid:
        errors = [d for d in analysis.diagnostics() if d.severity == "error"]
        listed = "; ".join(
            f"{graph.nodes[d.node_id].name if d.node_id else 'graph'}: {d.text}"
            for d in errors[:8]
        )
        raise ModelImportError(
            f"{path.name}: the imported graph does not check clean: {listed}"
        )
    state = {
        node_key(node_id, key): value for node_id, layer in owners.items() for key, value in layer.weights.items()
    }
    if warnings is not None:
        graph, state = regrouped(graph, {n: layer.scope for n, layer in owners.items()}, state, analysis, warnings)
    lay_out(graph)
    return Project(project_name(path), graph, description=_description(path, model)), state


def _description(path: Path, model: onnx.ModelProto) -> str:
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    source = f", exported by {producer}" if producer else ""
    return f"Imported from {path.name} (ONNX opset {default_opset(model)}{source})."
