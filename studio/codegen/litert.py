"""The LiteRT (TensorFlow Lite) export: a `.tflite` of built-in operators only, at a static batch, and a runner for it.

NOTE: the converter path is litert-torch (Google's PyTorch -> LiteRT converter, the successor of
ai-edge-torch), fed the seeded or loaded PyTorch model every export starts from
(`export.Weights.model`), not the Keras export through TensorFlow's TFLiteConverter:
- litert-torch is where LiteRT's PyTorch support is developed (released with LiteRT itself), while
  TF's converter takes TensorFlow graphs only and needs the Keras code run on TF's backend, which
  computes wrong numbers for some channels-first convolutions (issue 17), adds a transpose around
  every channels-first layer, and emits Flex ops (TensorList for the recurrent layers,
  DataFormatVecPermute for transposed convolutions at a dynamic batch) the built-in interpreter lacks;
- the PyTorch model is the one every other export is checked against, so the .tflite holds
  exactly its weights, with no second translation layer by layer;
- torch.export at a static batch unrolls LSTM, GRU and RNN into plain operators (FULLY_CONNECTED,
  LOGISTIC, TANH, ...), and litert-torch's layout pass turns channels-first into NHWC kernels.
Measured with litert-torch 0.10 / ai-edge-litert 2.3 (benchmarks/litert_sweep.py): every example
and every catalogue layer runs in the interpreter within 1.2e-6 of PyTorch, once `prepared` has
rewritten, with the same weights, the forms the converter cannot take (padded or dilated transposed
convolutions, grouped 3-D convolutions, adaptive max pools). Refused by name (`LIMITS`, which `layers` lists too): a strided
3-D transposed convolution (no built-in form), a nearest resize by a fractional factor (LiteRT picks
other pixels: a difference of 1.1 relative) and a flip of non-adjacent dimensions (REVERSE_V2 fails). The file is refused unless every operator
is built in (no Flex or custom op) and the plain interpreter loads and runs it once. int64 inputs
and outputs (token ids, indices) become int32.
Torch, litert-torch and ai-edge-litert are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.codegen.checks import problem_line, refuse_errors
from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import io_names
from studio.codegen.quiet import quiet_loggers
from studio.graph.catalogue.base import LayerSpec, Unsupported
from studio.graph.flatten import flat_project
from studio.graph.model import Node
from studio.graph.project import Project
from studio.graph.shapes import NodeResult, snapshot_analysis

if TYPE_CHECKING:
    import numpy as np
    import torch

DEFAULT_BATCH = 1
MAX_BATCH = 4096
SIGNATURE = "serving_default"


def _strided_transpose_3d(node: Node, result: NodeResult) -> str | None:
    if any(int(s) > 1 for s in node.params["stride"]):
        return (
            f"LiteRT has no built-in 3-D transposed convolution with a stride (here {tuple(node.params['stride'])}): "
            "use stride 1, or an Upsample (nearest) followed by a Conv3d"
        )
    return None


def _fractional_nearest(node: Node, result: NodeResult) -> str | None:
    x = result.inputs[0] if result.inputs else None
    if node.params.get("mode") in ("nearest", "nearest-exact") and x and result.outputs:
        y = next(iter(result.outputs.values()))
        if any(o % i for i, o in zip(x[2:], y[2:])):
            return (
                f"LiteRT's nearest resize picks other entries than PyTorch's unless each size grows by a whole factor "
                f"(here {_sizes(x[2:])} to {_sizes(y[2:])}): use whole scale factors, or mode 'bilinear'"
            )
    return None


def _apart_flip(node: Node, result: NodeResult) -> str | None:
    x = result.inputs[0] if result.inputs else None
    if x:
        dims = sorted(int(d) % len(x) for d in node.params["dims"])
        if dims != list(range(dims[0], dims[0] + len(dims))):
            return (
                f"LiteRT's reverse flips adjacent dimensions only (here {tuple(node.params['dims'])}): "
                "use one Flip per run of adjacent dimensions"
            )
    return None


@dataclass(frozen=True)
class Limit:
    """Values of a layer type LiteRT's built-in operators cannot express: `summary` for the layer list, `check` per layer."""

    summary: str
    check: Callable[[Node, NodeResult], str | None]


LIMITS: dict[str, Limit] = {  # every layer type not here converts at any values (benchmarks/litert_sweep.py); Upsample's factors are whole
    "ConvTranspose3d": Limit("stride 1 only", _strided_transpose_3d),
    "Resize": Limit("nearest mode by whole scale factors only", _fractional_nearest),
    "Flip": Limit("adjacent dimensions only", _apart_flip),
}


def refusal(node: Node, result: NodeResult) -> str | None:
    """Why LiteRT's built-in operators cannot express this layer as set, and what would; None where they can."""
    limit = LIMITS.get(node.type)
    return limit.check(node, result) if limit is not None else None


def litert_target(spec: LayerSpec) -> bool | str:
    """True where the LiteRT export takes the layer type (at some values: `LIMITS`), else why not: it converts the PyTorch model."""
    pytorch = spec.targets.get("pytorch")
    return f"the LiteRT export converts the PyTorch model: {pytorch.reason}" if isinstance(pytorch, Unsupported) else True


def _sizes(sizes: Sequence[int | None]) -> str:
    """Spatial sizes as '8x8'."""
    return "x".join(str(s) for s in sizes)


def unsupported_litert_nodes(project: Project) -> list[str]:
    """One line per layer LiteRT's built-in operators cannot express: '- <name>: <Type>: <reason>'."""
    flat = flat_project(project)
    results = snapshot_analysis(flat.graph).results()
    nodes = flat.graph.nodes.values()
    return [problem_line(node, reason) for node in nodes if node.id in results and (reason := refusal(node, results[node.id])) is not None]


def litert_bytes(project: Project, model: torch.nn.Module, batch: int = DEFAULT_BATCH, step: Callable[[str], None] | None = None) -> bytes:
    """Convert `model` (built from `project`'s generated PyTorch code) to a checked `.tflite` at a static `batch`.

    `step(text)` hears the stages (the export's `Progress.step`).

    Raises:
        CodegenError: the graph has errors, a layer LiteRT cannot express (all are listed), a batch
            outside 1 to MAX_BATCH, or a model the converter refuses or that needs operators outside
            LiteRT's built-in set.
    """
    tell = step or (lambda text: None)
    refuse_errors(project, snapshot_analysis(project.graph), "LiteRT")
    unsupported = unsupported_litert_nodes(project)
    if unsupported:
        head = f"cannot export {project.name!r} to LiteRT: these layers have no faithful form in its built-in operators"
        raise CodegenError(head + "\n" + "\n".join(unsupported))
    if not 1 <= batch <= MAX_BATCH:
        raise CodegenError(f"a LiteRT batch of {batch} is not possible: choose 1 to {MAX_BATCH} (default {DEFAULT_BATCH})")
    names = io_names(project)[0]
    samples = example_inputs(project, batch)
    data = _converted(project, prepared(model), dict(zip(names, samples, strict=True)), tell)
    tell("checking the LiteRT model: built-in operators only, one run")
    custom = custom_operators(data)
    if custom:
        raise CodegenError(
            f"the LiteRT conversion of {project.name!r} needs operators outside LiteRT's built-in set "
            f"({', '.join(custom)}), which the plain interpreter cannot run"
        )
    try:
        run_litert(data, [sample.numpy() for sample in samples])
    except (RuntimeError, ValueError) as err:
        raise CodegenError(f"the LiteRT interpreter cannot run the conversion of {project.name!r}: {_first_line(err)}") from err
    return data


def example_inputs(project: Project, batch: int) -> list[torch.Tensor]:
    """Zeros shaped as each Input at the static `batch`, in the order of the model's `forward`."""
    import torch

    dtypes = {"float32": torch.float32, "int64": torch.int64}
    return [
        torch.zeros((batch, *(int(d) for d in node.params["shape"])), dtype=dtypes.get(str(node.params["dtype"]), torch.float32))
        for node in project.graph.nodes.values()
        if node.type == "Input"
    ]


def prepared(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` in forms litert-torch converts, with the same weights and results (`_litert_form`)."""
    ready = copy.deepcopy(model).eval()
    for name, module in list(ready.named_modules()):
        replacement = _litert_form(module)
        if replacement is not None:
            parent, _, attribute = name.rpartition(".")
            setattr(ready.get_submodule(parent) if parent else ready, attribute, replacement)
    return ready


def _litert_form(module: torch.nn.Module) -> torch.nn.Module | None:
    """What replaces `module` before converting, or None where litert-torch converts it as it is.

    Grouped 3-D convolutions become ungrouped ones (the converter fails or crashes on them); padded
    or dilated transposed convolutions an unpadded, undilated one cropped (it cannot legalize them);
    adaptive max pools the maximum of each window (it has no lowering for them).
    """
    from torch import nn

    if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)) and module.groups > 1:
        return _ungrouped(module)
    if isinstance(module, nn.modules.conv._ConvTransposeNd) and (any(module.padding) or any(d > 1 for d in module.dilation)):
        return _cropped_transpose(module)
    if isinstance(module, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return _windowed_max(module)
    return None


def _ungrouped(conv: torch.nn.Module) -> torch.nn.Module:
    """A grouped 3-D convolution as an ungrouped one whose kernel is zero between groups (block diagonal): the same result."""
    import torch
    from torch import nn

    groups, transposed = conv.groups, isinstance(conv, nn.ConvTranspose3d)
    if transposed:
        dense = nn.ConvTranspose3d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                   conv.output_padding, bias=conv.bias is not None, dilation=conv.dilation)  # fmt: skip
    else:
        dense = nn.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                          bias=conv.bias is not None, padding_mode=conv.padding_mode)  # fmt: skip
    rows, columns = conv.weight.shape[0] // groups, conv.weight.shape[1]  # a group's block of the kernel
    with torch.no_grad():
        dense.weight.zero_()
        for g in range(groups):
            dense.weight[g * rows : (g + 1) * rows, g * columns : (g + 1) * columns] = conv.weight[g * rows : (g + 1) * rows]
        if conv.bias is not None:
            dense.bias.copy_(conv.bias)
    return _litert_form(dense) or dense


def _windowed_max(pool: torch.nn.Module) -> torch.nn.Module:
    """An adaptive max pool as the maximum of each of its windows, axis by axis (a maximum over a box is one per axis in turn)."""
    import torch
    from torch import nn

    rank = {nn.AdaptiveMaxPool1d: 1, nn.AdaptiveMaxPool2d: 2, nn.AdaptiveMaxPool3d: 3}[type(pool)]
    sizes = pool.output_size if isinstance(pool.output_size, tuple) else (pool.output_size,) * rank

    class WindowedMax(nn.Module):
        """PyTorch's adaptive windows: cell i of n over a length L spans floor(i L / n) to ceil((i + 1) L / n)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for axis, size in zip(range(x.dim() - rank, x.dim()), sizes):
                length = x.shape[axis]
                size = length if size is None else size
                if size == length:
                    continue
                cells = [(i * length // size, -(-(i + 1) * length // size)) for i in range(size)]
                x = torch.cat([x.narrow(axis, lo, hi - lo).amax(axis, keepdim=True) for lo, hi in cells], axis)
            return x

    return WindowedMax()


def _cropped_transpose(conv: torch.nn.Module) -> torch.nn.Module:
    """`conv` (padded) as an unpadded transposed convolution, cropped by the padding, then its bias added."""
    from torch import nn
    from torch.nn import functional as F

    rank = len(conv.padding)
    transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]

    class CroppedTransposedConv(nn.Module):
        """The same weights and result as the padded (or dilated) transposed convolution it replaces."""

        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(_dilated_kernel(conv.weight.detach(), conv.dilation), requires_grad=False)
            self.bias = conv.bias

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            full = transpose(x, self.weight, None, conv.stride, 0, 0, conv.groups, 1)
            extra = [out - lo for out, lo in zip(conv.output_padding, conv.padding)]
            if any(e > 0 for e in extra):  # output_padding beyond the padding: zeros at the far end
                full = F.pad(full, [v for e in reversed(extra) for v in (0, max(e, 0))])
            cut = full[(slice(None), slice(None), *(slice(p, full.shape[2 + i] - max(-e, 0)) for i, (p, e) in enumerate(zip(conv.padding, extra))))]
            if self.bias is None:
                return cut
            return cut + self.bias.reshape(-1, *([1] * rank))

    return CroppedTransposedConv()


def _dilated_kernel(weight: torch.Tensor, dilation: tuple[int, ...]) -> torch.Tensor:
    """`weight` with dilation - 1 zeros between its taps in each spatial axis: the same convolution undilated."""
    import torch

    if all(d == 1 for d in dilation):
        return weight
    size = [(k - 1) * d + 1 for k, d in zip(weight.shape[2:], dilation)]
    spread = torch.zeros((*weight.shape[:2], *size), dtype=weight.dtype)
    spread[(slice(None), slice(None), *(slice(None, None, d) for d in dilation))] = weight
    return spread


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """litert-torch without its progress lines and its dependencies' deprecation warnings (the export's Progress tells the steps)."""
    key = "LITERT_TORCH_SHOW_PROGRESS"
    before = os.environ.get(key)
    os.environ[key] = "0"
    try:
        with quiet_loggers("torchao", "torch.utils._pytree"):  # notes on optional kernels, deprecations
            yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _converted(project: Project, model: torch.nn.Module, inputs: dict[str, torch.Tensor], tell: Callable[[str], None]) -> bytes:
    """litert-torch's flatbuffer of `model` traced on `inputs` (keyword arguments, so the file's inputs carry their names).

    NOTE: the converter's native passes crash the process on some 3-D convolutions (a segfault, no
    exception), so where the platform forks the conversion runs in a forked child: a crash ends
    the child and becomes a CodegenError, and the editor and its unsaved work live on. While it
    runs, `tell` hears the step again each second, so a cancel (which raises there) ends the child.
    The parent never converts itself: a fork of a process whose converter has started its
    thread pool would hang.
    """
    import multiprocessing

    step = "converting to LiteRT (litert-torch)"
    tell(step)
    with _quiet_converter():
        import litert_torch  # noqa: F401 - imported before the fork, so each child starts with it loaded
    if "fork" not in multiprocessing.get_all_start_methods():
        outcome = _convert_here(model, inputs)
    else:
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_convert_in_child, args=(sender, model, inputs), daemon=True)
        child.start()
        sender.close()
        outcome = None
        try:
            while not receiver.poll(1.0):
                if not child.is_alive():
                    break
                tell(step)
            if receiver.poll():
                outcome = receiver.recv()
        except EOFError:  # the child died without an answer
            pass
        finally:
            if outcome is None and child.is_alive():  # cancelled (`tell` raised): stop the child
                child.kill()
            receiver.close()
            child.join()
        if outcome is None:
            outcome = ("crash", _ended_by(child.exitcode))
    kind, value = outcome
    if kind == "crash":
        raise CodegenError(
            f"litert-torch crashed converting {project.name!r} ({value}): one of its layers takes a form the converter "
            "cannot handle; 3-D convolutions on a single channel are the ones known to do this"
        )
    if kind == "error":
        raise CodegenError(f"litert-torch cannot convert {project.name!r}: {value}")
    return value


def _convert_here(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> tuple[str, Any]:
    """("done", the flatbuffer) or ("error", the converter's first line)."""
    import litert_torch

    with _quiet_converter():
        try:
            return "done", litert_torch.convert(model, sample_kwargs=inputs).model_content()
        except Exception as err:  # noqa: BLE001 - anything from torch.export to MLIR: the converter has no error type of its own
            return "error", _first_line(err)


def _convert_in_child(sender: Any, model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> None:
    """The forked child's work: convert and send the outcome back."""
    import torch

    torch.set_num_threads(1)  # OpenMP's thread pool does not survive a fork
    sender.send(_convert_here(model, inputs))
    sender.close()


def _ended_by(exitcode: int | None) -> str:
    """How a child process ended, in words: 'signal SIGSEGV', 'exit status 3'."""
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit status {exitcode}"


def custom_operators(data: bytes) -> list[str]:
    """The operators of a `.tflite` that are not LiteRT built-ins (Flex and custom ones), by name."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    found = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.CUSTOM:
            found.append((code.CustomCode() or b"?").decode("utf-8", "replace"))
    return sorted(set(found))


def run_litert(model: str | Path | bytes, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Run a `.tflite` (a path or its bytes) once in the LiteRT interpreter; the outputs in the model's order.

    `inputs` are the model's inputs in order, or by name; each is cast to the dtype the file
    expects (int64 token ids to int32) and must have its static shape.

    Raises:
        ValueError: an input is missing or has the wrong shape, or the interpreter cannot load the file.
        RuntimeError: the interpreter cannot run it.
    """
    return load_litert(model)(inputs)


def load_litert(model: str | Path | bytes) -> Callable[[Sequence[np.ndarray] | Mapping[str, np.ndarray]], list[np.ndarray]]:
    """Load a `.tflite` into the LiteRT interpreter once; the function runs it on inputs as `run_litert` does."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    content = model if isinstance(model, bytes) else Path(model).read_bytes()
    interpreter = Interpreter(model_content=content)
    runner = interpreter.get_signature_runner(SIGNATURE)
    wanted = runner.get_input_details()
    order = [detail["index"] for detail in interpreter.get_input_details()]
    names = sorted(wanted, key=lambda name: order.index(wanted[name]["index"]))  # as `forward` takes them

    def run(inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        given = dict(inputs) if isinstance(inputs, Mapping) else dict(zip(names, inputs, strict=False))
        if len(inputs) != len(names) or set(given) != set(names):
            raise ValueError(f"the model takes {len(names)} inputs ({', '.join(names)}); {len(inputs)} given")
        feed = {}
        for name in names:
            shape, dtype = tuple(int(d) for d in wanted[name]["shape"]), wanted[name]["dtype"]
            value = np.asarray(given[name])
            if value.shape != shape:
                raise ValueError(f"input {name!r} has shape {value.shape}; the model takes {shape} (its batch is static)")
            feed[name] = value.astype(dtype, copy=False)
        outputs = runner(**feed)
        return [np.asarray(outputs[key]) for key in sorted(outputs, key=_output_number)]

    return run


def _output_number(name: str) -> tuple[int, str]:
    """litert-torch names outputs output_0, output_1, ...: their order in the model."""
    number = name.rpartition("_")[2]
    return (int(number), name) if number.isdigit() else (0, name)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
