"""The ONNX export: a checked, self-contained file of the project, at the opset the user chose.

Choices, measured with torch 2.13 / onnx 1.23 / onnxruntime 1.32 / OpenVINO 2026.4 / onnx2torch
1.5.15 over every example and every catalogue layer at every opset offered
(`tests/codegen/test_onnx_tools.py`, `benchmarks/onnx_tools.py`):
- Opsets 13 to 28 (`MIN_OPSET`, `MAX_OPSET`): 13 is the oldest that converters (x2paddle, which
  reads 7 to 15, onnx2torch, OpenCV's reader) and older runtimes are still asked to read; 28 is
  the newest that onnx knows and ONNX Runtime runs. Where an operator changed between them the
  emitters write the form of the chosen opset (`catalogue.onnx_records`).
- The default (`DEFAULT_OPSET`) is 17, the newest a file can be for the tools that read old
  opsets only: onnx2torch knows no Reduce* or Split of opset 18, no Reshape of 19, no Conv of 22,
  and refuses the whole file; ONNX Runtime and OpenVINO run every opset alike. 17 still has
  LayerNormalization, which runtimes fuse and run as one kernel; below it LayerNorm is written
  as its arithmetic (`--opset 15` and older for x2paddle). What 17 lacks is written as its
  arithmetic too (Mish before 18, GELU before 20, GroupNorm before 21, RMSNorm before 23), with
  the same numbers in ONNX Runtime; `--opset 28` writes them as one operator each.
- Every node is written in its plainest form (`onnx_forms`): no attribute at its default value,
  no Reshape `allowzero` where the target has no zero, Reduce* axes an attribute below 18. Where
  a tool misreads a plain form another is written: ReduceL1 and ReduceLogSumExp as arithmetic
  below 18 (OpenVINO drops their axes attribute), CumSum's `reverse` 0 (onnx2torch reads none as 1),
  Clip's open side as an infinite bound (onnx2torch refuses an empty input name).
- The file is written straight from the graph (`onnx_writer`). Only parameter values an emitter
  cannot write (`Inexpressible`) go through the dynamo exporter (`torch.onnx.export(...,
  dynamo=True)`; the TorchScript one is deprecated and refuses more), which writes opset
  `TORCH_OPSET` and converts to the opset asked for (`MAX_OPSET` where none was asked for: a
  ceil-mode MaxPool's output size is PyTorch's only from MaxPool-22); its file is then made plain
  like the writer's. Where it cannot convert (below 15 as a rule) the export is refused with the
  layer named.
- One dynamic dimension, `batch`, shared by every input and output; all other sizes are the
  static ones the shape analysis knows. Weights are embedded (no external data), so the
  file alone is the model; protobuf caps such a file at 2 GB.
Torch and onnx are imported inside the functions (the editor opens without them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from studio.codegen.checks import problem_line, refuse_errors
from studio.codegen.names import CodegenError, Namespace
from studio.codegen.onnx_forms import plain_model
from studio.codegen.onnx_writer import onnx_model
from studio.codegen.pytorch import module_names
from studio.codegen.quiet import quiet_loggers
from studio.graph.catalogue import CATALOGUE
from studio.graph.catalogue.base import Inexpressible, Unsupported
from studio.graph.flatten import flat_project
from studio.graph.project import Project
from studio.graph.shapes import ShapeAnalysis, snapshot_analysis

if TYPE_CHECKING:
    import onnx
    import onnx_ir
    import torch

MIN_OPSET = 13
MAX_OPSET = 28  # the newest onnx 1.23 knows and ONNX Runtime 1.32 runs (constraints.txt)
DEFAULT_OPSET = 17  # the newest onnx2torch reads whole (module docstring; tests/codegen/test_onnx_tools.py)
TORCH_OPSET = 18  # the opset torch.onnx writes before converting
BATCH = "batch"
TRACE_BATCH = 2  # torch.export specializes sizes 0 and 1, so the trace uses 2


def unsupported_onnx_nodes(project: Project) -> list[str]:
    """One line per node whose layer type ONNX cannot express: '- <name>: <Type>: <reason>'."""
    project = flat_project(project)
    lines = []
    for node in project.graph.nodes.values():
        target = CATALOGUE[node.type].targets["onnx"]
        if isinstance(target, Unsupported):
            lines.append(problem_line(node, target.reason))
    return lines


def io_names(
    project: Project, analysis: ShapeAnalysis | None = None
) -> tuple[list[str], list[str]]:
    """The ONNX input and output names: the Input and Output nodes' identifiers, in project order.

    They are the names the generated PyTorch code gives these nodes (same sanitizer, same
    order of claims), so `forward`'s parameters and the ONNX inputs read alike.
    """
    analysis = analysis or snapshot_analysis(project.graph)
    names = Namespace()
    names.class_name(project.name)
    ident = {
        node_id: names.identifier(project.graph.nodes[node_id].name)
        for node_id in analysis.ordered_ids()
    }
    nodes = project.graph.nodes
    inputs = [ident[n] for n, node in nodes.items() if node.type == "Input"]
    outputs = [ident[n] for n, node in nodes.items() if node.type == "Output"]
    return inputs, outputs


def onnx_bytes(
    project: Project, model: torch.nn.Module, opset: int | None = None
) -> bytes:
    """Export `model` (built from `project`'s generated PyTorch code) as a checked ONNX file.

    Inputs and outputs carry the Input/Output node names in project order, axis 0 of each is
    the dynamic `batch` dimension, and the weights are embedded. `opset` None is DEFAULT_OPSET
    (MAX_OPSET where torch.onnx writes the file: module docstring).

    Raises:
        CodegenError: the graph has errors, a layer ONNX cannot express (all are listed), an
            opset outside MIN_OPSET to MAX_OPSET, or a model torch.onnx cannot export (at that opset) or
            that fails onnx.checker.
    """
    analysis = snapshot_analysis(project.graph)
    refuse_errors(project, analysis, "ONNX")
    io = io_names(project, analysis)  # as the generated PyTorch code names them, blocks and all
    attributes = module_names(project)  # where the model holds each flattened layer's weights
    flat = flat_project(project)  # NOTE: ONNX gets the flattened layers, not ONNX functions (docs/architecture.md)
    if flat is not project:
        project, analysis = flat, snapshot_analysis(flat.graph)
    unsupported = unsupported_onnx_nodes(project) + _inexpressible_values(
        project, analysis
    )
    if unsupported:
        head = f"cannot export {project.name!r} to ONNX: these layers cannot be expressed in it"
        raise CodegenError(head + "\n" + "\n".join(unsupported))
    asked = opset
    opset = DEFAULT_OPSET if opset is None else opset
    if opset < MIN_OPSET:
        raise CodegenError(
            f"ONNX opset {opset} is too old: choose {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})"
        )
    if opset > MAX_OPSET:
        raise CodegenError(
            f"ONNX opset {opset} is newer than ONNX Runtime here runs: choose {MIN_OPSET} to {MAX_OPSET} "
            f"(default {DEFAULT_OPSET})"
        )

    import onnx

    input_names, output_names = io
    graph_name = Namespace().class_name(project.name)
    state = {key: value.detach().cpu().numpy() for key, value in model.state_dict().items()}
    traced = ""  # the layer torch.onnx writes the model for, if any
    try:
        proto = onnx_model(project, analysis, state, (input_names, output_names), opset, graph_name, attributes)
    except Inexpressible as err:  # a layer with no direct ONNX form: torch.onnx writes the model
        traced, opset = str(err), MAX_OPSET if asked is None else opset
        proto = _traced(project, analysis, model, opset, (input_names, output_names), traced)
        proto.graph.name = graph_name
        plain_model(proto)
    try:
        data = proto.SerializeToString()
    except ValueError as err:  # protobuf refuses messages over 2 GB
        raise CodegenError(
            f"{project.name!r} is too large for one ONNX file (the format caps it at 2 GB)"
        ) from err
    try:
        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        because = (
            f"\n  a layer has no direct ONNX form and torch.onnx wrote the file, wrongly at opset {opset} "
            f"(choose a newer opset, up to {MAX_OPSET}, or change the layer's parameters):\n  - {traced}"
            if traced
            else ""
        )
        raise CodegenError(
            f"the ONNX export of {project.name!r} fails onnx.checker: {_first_line(err)}{because}"
        ) from err
    return data


def _traced(
    project: Project,
    analysis: ShapeAnalysis,
    model: torch.nn.Module,
    opset: int,
    io: tuple[list[str], list[str]],
    why: str,
) -> onnx.ModelProto:
    """The model exported by torch.onnx, for `why`: '<layer>: <Type>: <reason>' it has no direct ONNX form.

    torch.onnx writes opset 18 and converts to the opset asked for; where that conversion
    fails (below 15 as a rule) it keeps 18, and the export is refused.
    """
    import torch

    input_names, output_names = io
    examples = _example_inputs(project, analysis)
    batch = torch.export.Dim(BATCH, min=1)
    model.eval()
    try:
        with _quiet():
            program = torch.onnx.export(
                model,
                examples,
                dynamo=True,
                opset_version=opset,
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=tuple({0: batch} for _ in examples),
                external_data=False,
                optimize=False,  # see _optimize_keeping_layers
                verbose=False,
            )
            _optimize_keeping_layers(program.model)
    except (
        Exception
    ) as err:  # torch.export and the translator raise many types; the user reads one
        raise CodegenError(
            f"torch.onnx could not export {project.name!r}: {_first_line(err)}"
        ) from err
    proto = program.model_proto
    written = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if written != [opset]:
        raise CodegenError(
            f"cannot export {project.name!r} to ONNX opset {opset}: a layer has no direct ONNX form, and torch.onnx, "
            f"which writes the model instead, cannot convert it to opset {opset} (choose opset {TORCH_OPSET} or newer, "
            f"or change the layer's parameters)\n  - {why}"
        )
    _name_io(proto.graph, input_names, output_names)
    return proto


def _optimize_keeping_layers(model: onnx_ir.Model) -> None:
    """Run torch.onnx's usual graph optimizer, except the rules that fold BatchNorm into the layer before it.

    NOTE: folding is what a runtime does, but in a file meant to be edited, trained and imported
    again it would silently remove every BatchNorm (and its parameters) after a convolution or
    a Linear. onnxscript's optimizer takes no list of rules, so the default list is narrowed for
    the call; the round-trip tests of studio.interop catch a change of that API.
    """
    import onnxscript.optimizer
    import onnxscript.rewriter

    default_rules = onnxscript.rewriter._DEFAULT_REWRITE_RULES
    onnxscript.rewriter._DEFAULT_REWRITE_RULES = tuple(
        rule
        for rule in default_rules
        if not str(getattr(rule, "name", "") or "").startswith("FuseBatchNorm")
    )
    try:
        onnxscript.optimizer.optimize_ir(model)
    finally:
        onnxscript.rewriter._DEFAULT_REWRITE_RULES = default_rules


def _name_io(graph: onnx.GraphProto, inputs: list[str], outputs: list[str]) -> None:
    """Give every graph input and output its wanted name, whatever the exporter called the values.

    Without the exporter's own naming pass an Input passed straight out, or one tensor returned
    twice, can leave a wanted name on another value; such a value is renamed out of the way
    first, then each output gets an Identity of its value under its wanted name.
    """
    import onnx

    taken = {name for node in graph.node for name in (*node.input, *node.output)}
    taken |= {v.name for v in (*graph.input, *graph.output, *graph.initializer)}

    def free(name: str, keep: str) -> None:
        if name in taken and name != keep:
            spare = next(
                f"{name}_value{k}"
                for k in range(1, len(taken) + 2)
                if f"{name}_value{k}" not in taken
            )
            _rename_value(graph, name, spare)
            taken.add(spare)

    for value, wanted in zip(graph.input, inputs):
        if value.name != wanted:
            free(wanted, value.name)
            _rename_value(graph, value.name, wanted)
            taken.add(wanted)
    for index, wanted in enumerate(outputs):
        output = graph.output[index]
        if output.name != wanted:
            free(wanted, output.name)
            source = graph.output[index].name
            graph.node.append(
                onnx.helper.make_node(
                    "Identity", [source], [wanted], name=f"{wanted}_output"
                )
            )
            graph.output[index].name = wanted
            taken.add(wanted)


def _rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new


def _inexpressible_values(project: Project, analysis: ShapeAnalysis) -> list[str]:
    """Lines for parameter values the exporter cannot translate though the layer type is supported."""
    lines = []
    for node_id, node in project.graph.nodes.items():
        if node.type == "AdaptiveMaxPool2d":
            sizes = analysis.result(node_id).inputs[0][2:]
            wanted = node.params["output_size"]
            if any(s is None or s % o for s, o in zip(sizes, wanted)):
                lines.append(
                    f"  - {node.name}: AdaptiveMaxPool2d: output_size {tuple(wanted)} does not divide the input size "
                    f"{tuple(sizes)} and ONNX has no adaptive max pooling: choose sizes that divide it, such as (1, 1)"
                )
    return lines


def _example_inputs(
    project: Project, analysis: ShapeAnalysis
) -> tuple[torch.Tensor, ...]:
    """Zeros of each Input's shape (token id 0 is valid for any vocabulary), batch TRACE_BATCH."""
    import torch

    examples = []
    for node_id, node in project.graph.nodes.items():
        if node.type == "Input":
            shape = (TRACE_BATCH, *analysis.result(node_id).outputs["out"][1:])
            dtype = torch.int64 if node.params["dtype"] == "int64" else torch.float32
            examples.append(torch.zeros(shape, dtype=dtype))
    return tuple(examples)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's deprecation warnings, its notes on optional packages (torchvision) and on opset conversion."""
    with quiet_loggers("torch.onnx", "onnxscript"):  # onnxscript: a failed opset conversion
        yield


def _first_line(err: BaseException) -> str:
    """The first line of the innermost cause: the exporter wraps the telling error in generic ones."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
