"""Graph to PyTorch source: one nn.Module class, a forward in topological order, build_model().

The output reads like code a careful person wrote and is black-clean as emitted (lines are
wrapped the way black wraps them), so it needs no formatter at run time. Names from the
project go through one `Namespace`; values are emitted as literals. Torch is not imported here.
"""

from __future__ import annotations

from studio.codegen.checks import (
    feeding_outputs,
    node_comment,
    piece,
    read_ports,
    refuse_errors,
)
from studio.codegen.names import RESERVED, CodegenError, Namespace
from studio.graph.catalogue.core import standardized_axis
from studio.graph.catalogue.pytorch_records import (
    Call,
    Chain,
    Emitted,
    Expr,
    Picking,
    Site,
)
from studio.graph.flatten import flat_project
from studio.graph.model import Edge
from studio.graph.project import Project
from studio.graph.shapes import ShapeAnalysis, snapshot_analysis

LINE = 88
TAB = "    "

HELPERS: dict[str, str] = {
    "Standardize": '''
class Standardize(nn.Module):
    """Subtracts the training data's mean and divides by its std (constants, not weights)."""

    def __init__(self, mean: list[float], std: list[float], trailing: int) -> None:
        super().__init__()
        shape = (-1,) + (1,) * trailing  # one value per channel (images) or per feature
        self.register_buffer("mean", torch.tensor(mean).view(shape), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(shape), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
''',
    "SeparableConv2d": '''
class SeparableConv2d(nn.Module):
    """A depthwise convolution (no bias), then a 1x1 pointwise convolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        depth_multiplier: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        middle = in_channels * depth_multiplier
        self.depthwise = nn.Conv2d(
            in_channels,
            middle,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(middle, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
''',
    "SinusoidalEncoding": '''
class SinusoidalEncoding(nn.Module):
    """Adds a fixed sin/cos position table (a constant, not saved with the weights)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        step = torch.arange(0, d_model, 2, dtype=torch.float32)
        rate = torch.exp(step * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: d_model // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.size(1)]
''',
    "LearnedEncoding": '''
class LearnedEncoding(nn.Module):
    """Adds a learned table of position vectors."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.empty(max_len, d_model))
        nn.init.normal_(self.table, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.size(1)]
''',
    "LearnedTensor": '''
class LearnedTensor(nn.Module):
    """A learned tensor every sample shares (batch dimension 1): a class token, a position table."""

    def __init__(self, shape: tuple[int, ...], std: float = 0.02) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, *shape))
        if std:
            nn.init.normal_(self.weight, std=std)

    def forward(self) -> torch.Tensor:
        return self.weight
''',
    "FixedTensor": '''
class FixedTensor(nn.Module):
    """A fixed tensor every sample shares (batch dimension 1), saved with the weights: a mask, a table."""

    def __init__(self, shape: tuple[int, ...], fill: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("value", torch.full((1, *shape), fill))

    def forward(self) -> torch.Tensor:
        return self.value
''',
    "causal_mask": '''
def causal_mask(x: torch.Tensor) -> torch.Tensor:
    """-inf above the diagonal: each position attends to itself and the ones before it."""
    return nn.Transformer.generate_square_subsequent_mask(x.size(1), device=x.device)
''',
    "recurrent_outputs": '''
def recurrent_outputs(
    layer: nn.RNNBase, x: torch.Tensor, reverse: bool = False
) -> tuple[torch.Tensor, ...]:
    """Every step, then the top layer's final state(s), forward then backward."""
    sequence, states = layer(x.flip(1) if reverse else x)
    directions = 2 if layer.bidirectional else 1
    finals = states if isinstance(states, tuple) else (states,)
    tops = tuple(torch.cat(tuple(state[-directions:]), dim=-1) for state in finals)
    return (sequence.flip(1) if reverse else sequence, *tops)
''',
}
HELPER_NAMES = frozenset(HELPERS)  # a layer named like a helper must not shadow it


def fit(indent: str, head: str, items: list[str], tail: str, trailing_comma: bool = True) -> list[str]:
    """Lines for `head item, item tail` wrapped as black wraps a bracketed list."""
    one = f"{indent}{head}{', '.join(items)}{tail}"
    if len(one) <= LINE or not items:
        return [one]
    body = f"{indent}{TAB}{', '.join(items)}"
    if len(body) <= LINE:
        return [f"{indent}{head}", body, f"{indent}{tail}"]
    comma = "," if trailing_comma else ""
    last = len(items) - 1
    return [f"{indent}{head}", *(f"{indent}{TAB}{item}{',' if i < last else comma}" for i, item in enumerate(items)), f"{indent}{tail}"]


def assign(indent: str, target: str, expr: Expr) -> list[str]:
    """Lines for `target = expr`, black-wrapped."""
    if isinstance(expr, Call):
        head = f"{target} = {expr.func}("
        if len(indent + head) <= LINE or len(f"{indent}{target} = {expr.text()}") <= LINE:
            return fit(indent, head, list(expr.args), ")")
        return [f"{indent}{target} = (", *fit(indent + TAB, f"{expr.func}(", list(expr.args), ")"), f"{indent})"]
    if isinstance(expr, Picking):
        return _picking(indent, target, expr)
    one = f"{indent}{target} = {expr.text()}"
    if len(one) <= LINE or not isinstance(expr, Chain):
        return [one]
    body = f"{indent}{TAB}{expr.text()}"
    if len(body) <= LINE:
        return [f"{indent}{target} = (", body, f"{indent})"]
    operands = [expr.operands[0], *(f"{expr.op} {x}" for x in expr.operands[1:])]
    return [f"{indent}{target} = (", *(f"{indent}{TAB}{x}" for x in operands), f"{indent})"]


def _picking(indent: str, target: str, expr: Picking) -> list[str]:
    """Lines for `target = x[:, [i, j, ...]]`, wrapped as black wraps a subscript (a long index list one per line)."""
    picked = "[" + ", ".join(expr.items) + "]"
    lines = fit(indent, f"{target} = {expr.source}[", [*expr.prefix, picked], "]")
    if all(len(line) <= LINE for line in lines):
        return lines
    inner = indent + TAB
    return [
        f"{indent}{target} = {expr.source}[",
        *(f"{inner}{p}," for p in expr.prefix),
        *fit(inner, "[", list(expr.items), "],"),
        f"{indent}]",
    ]


class _Emitter:
    """Builds the source of one project; one instance per generation."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.graph = project.graph
        self.analysis: ShapeAnalysis = snapshot_analysis(self.graph)
        refuse_errors(self.project, self.analysis, "PyTorch code")
        self.names = Namespace(RESERVED | HELPER_NAMES)
        self.class_name = self.names.class_name(project.name)
        self.order = self.analysis.ordered_ids()
        self.ident = {node_id: self.names.identifier(self.graph.nodes[node_id].name) for node_id in self.order}
        self.inputs = [n for n, node in self.graph.nodes.items() if node.type == "Input"]
        self.outputs = [n for n, node in self.graph.nodes.items() if node.type == "Output"]
        self.live = feeding_outputs(self.graph)
        self.standardize = {
            n: self.names.identifier(f"{self.graph.nodes[n].name} standardize")
            for n in self.inputs
            if self.graph.nodes[n].params["mean"]
        }
        self.emitted: dict[str, Emitted] = {}
        for node_id in self.order:
            node = self.graph.nodes[node_id]
            if node.type not in ("Input", "Output"):
                if node.spec.pytorch is None:
                    raise CodegenError(f"cannot generate PyTorch code: layer type {node.type} has no PyTorch form")
                self.emitted[node_id] = node.spec.pytorch(self._site(node_id))

    def _site(self, node_id: str) -> Site:
        node = self.graph.nodes[node_id]
        result = self.analysis.result(node_id)
        args = []
        for port in node.spec.input_ports(node.params):
            edge = self.graph.source_of(node_id, port.name)
            args.append(None if edge is None else self._value(edge))
        return Site(dict(node.params), result.inputs, f"self.{self.ident[node_id]}", tuple(args), read_ports(self.graph, node_id))

    def _value(self, edge: Edge) -> str:
        """The local that holds what an edge carries: its layer's, or one piece of a layer's tuple of pieces."""
        index = piece(self.graph, edge)
        return self.ident[edge.src] if index is None else f"{self.ident[edge.src]}[{index}]"

    def _comment(self, node_id: str) -> str:
        return node_comment(self.graph, self.analysis, node_id)

    # ----- the file -----
    def source(self) -> str:
        used = {h for e in self.emitted.values() for h in e.helpers} | ({"Standardize"} if self.standardize else set())
        helpers = sorted(used, key=list(HELPERS).index)
        imports = "import torch\nfrom torch import nn"
        if "SinusoidalEncoding" in helpers:
            imports = "import math\n\n" + imports
        head = f'"""{self.class_name}: PyTorch code generated by Layer Studio."""\n\n{imports}'
        sections = [head, *(HELPERS[h].strip() for h in helpers), "\n".join(self._class()), "\n".join(self._build_model())]
        return "\n\n\n".join(sections) + "\n"

    def _class(self) -> list[str]:
        lines = [
            f"class {self.class_name}(nn.Module):",
            f'{TAB}"""The network of a Layer Studio project: one attribute per layer, named after its node."""',
            "",
            f"{TAB}def __init__(self) -> None:",
            f"{TAB * 2}super().__init__()",
        ]
        for node_id, name in self.standardize.items():
            lines += assign(TAB * 2, f"self.{name}", standardize_call(self.graph.nodes[node_id].params))
        for node_id, emitted in self.emitted.items():
            if emitted.module is not None:
                lines += assign(TAB * 2, f"self.{self.ident[node_id]}", emitted.module)
        lines += ["", *self._forward()]
        return lines

    def _forward(self) -> list[str]:
        params = ["self", *(f"{self.ident[n]}: torch.Tensor" for n in self.inputs)]
        returns = "torch.Tensor" if len(self.outputs) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(self.outputs))}]"
        lines = fit(TAB, "def forward(", params, f") -> {returns}:")
        body = []
        for node_id in self.inputs:
            body.append(f"{TAB * 2}{self._comment(node_id)}")
            if node_id in self.standardize:
                name = self.ident[node_id]
                body.append(f"{TAB * 2}{name} = self.{self.standardize[node_id]}({name})")
        for node_id, emitted in self.emitted.items():
            if node_id not in self.live:
                continue
            name = self.ident[node_id]
            body.append(f"{TAB * 2}{self._comment(node_id)}")
            body += assign(TAB * 2, f"{name}, _" if emitted.unpack else name, emitted.expr)
        results = []
        for out in self.outputs:
            edge = self.graph.source_of(out, "in")
            assert edge is not None
            results.append(self._value(edge))
            body.append(f"{TAB * 2}{self._comment(out)}")
        plain = f"{TAB * 2}return {', '.join(results)}"
        body += [plain] if len(plain) <= LINE else fit(TAB * 2, "return (", results, ")")
        return lines + body

    def _build_model(self) -> list[str]:
        return [
            "def build_model(weights: str | None = None) -> nn.Module:",
            f'{TAB}"""Build the network; given a path, load its state dict (tensors only)."""',
            f"{TAB}model = {self.class_name}()",
            f"{TAB}if weights is not None:",
            f'{TAB * 2}state = torch.load(weights, map_location="cpu", weights_only=True)',
            f"{TAB * 2}model.load_state_dict(state)",
            f"{TAB}return model",
        ]


def standardize_call(params: dict) -> Call:
    """The Standardize module of an Input with a mean and std (one value each is spread over every channel)."""
    sample = params["shape"]
    axis = standardized_axis(sample)
    lists = [float_list(v * sample[axis] if len(v) == 1 else v) for v in (params["mean"], params["std"])]
    return Call("Standardize", (*lists, str(len(sample) - 1 - axis)))


def float_list(values: tuple[float, ...], indent: str = TAB * 3) -> str:
    """A list literal as black writes it as a call's argument: on one line, or one value per line."""
    one = f"[{', '.join(map(repr, values))}]"
    if len(indent) + len(one) + 1 <= LINE:
        return one
    return "[\n" + "".join(f"{indent}{TAB}{v!r},\n" for v in values) + f"{indent}]"


def generate_pytorch(project: Project) -> str:
    """Return the PyTorch source of `project`; CodegenError if its graph has errors."""
    project = flat_project(project)
    return _Emitter(project).source()


def module_names(project: Project) -> dict[str, str]:
    """The attribute of the generated module that holds each layer: node id -> name.

    State-dict keys of the generated model are `<name>.<parameter>` (e.g. `conv1.weight`);
    importers use this to store a model's weights under the keys the generated code loads.
    Layers without a module (Input, Output, and functional ones) are left out.
    """
    project = flat_project(project)
    emitter = _Emitter(project)
    return {n: emitter.ident[n] for n, emitted in emitter.emitted.items() if emitted.module is not None}
