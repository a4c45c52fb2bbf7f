"""Graph to Keras 3 source (functional API, channels-first) and its weights from the PyTorch model.

`generate_keras` writes `build_model(weights=None) -> keras.Model`, black-clean as emitted.
`write_keras_weights` runs that source, copies every layer's weights from the PyTorch export's
state dict (transposed where Keras lays them out differently) and saves a `.weights.h5` file,
so both exports compute the same function. Keras, torch and numpy are imported lazily.

NOTE: the source computes the same on the torch, JAX and TensorFlow backends. TensorFlow's
`ops.add` takes an operand of one non-1 axis for an NHWC bias, so convolutions leave their bias
to a `ChannelBias` layer (HELPERS) that adds it with `+`, and broadcasting adds are `+` in a
Lambda (docs/architecture.md, "Keras on every backend").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.codegen.checks import (
    feeding_outputs,
    node_comment,
    piece,
    problem_line,
    read_ports,
    refuse_errors,
)
from studio.codegen.contexts import Uses
from studio.codegen.keras_backend import load_keras
from studio.codegen.keras_blocks import Applied, BlockFunctions, layer_names
from studio.codegen.layout import LINE, TAB, assign, fit, float_list
from studio.codegen.names import RESERVED, CodegenError, Namespace, template_names
from studio.codegen.pytorch import module_names
from studio.graph.catalogue.base import Inexpressible, Unsupported
from studio.graph.catalogue.core import standardized_axis
from studio.graph.catalogue.keras_records import (
    Apply,
    Convert,
    Emitted,
    Expr,
    Site,
    Step,
)
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.pytorch_records import Call
from studio.graph.model import Edge
from studio.graph.project import Project
from studio.graph.shapes import snapshot_analysis

HELPERS: dict[str, str] = {
    "ChannelBias": '''
class ChannelBias(layers.Layer):
    """Adds a learned bias per channel (axis 1), with + rather than Keras' ops.add.

    TensorFlow's ops.add takes a (1, C, 1, ...) operand for an NHWC bias when the
    width equals C; the convolutions here have no bias of their own for that reason.
    """

    def build(self, input_shape) -> None:
        self.bias = self.add_weight(
            shape=(input_shape[1],), initializer="zeros", name="bias"
        )

    def call(self, x):
        return x + ops.reshape(self.bias, (-1,) + (1,) * (len(x.shape) - 2))
''',
    "SinusoidalEncoding": '''
class SinusoidalEncoding(layers.Layer):
    """Adds a fixed sin/cos position table (a constant, not saved with the weights)."""

    def __init__(self, max_len: int, d_model: int, **kwargs) -> None:
        super().__init__(**kwargs)
        position = np.arange(max_len, dtype="float32")[:, None]
        step = np.arange(0, d_model, 2, dtype="float32")
        rate = np.exp(step * (-math.log(10000.0) / d_model))
        table = np.zeros((max_len, d_model), dtype="float32")
        table[:, 0::2] = np.sin(position * rate)
        table[:, 1::2] = np.cos(position * rate[: d_model // 2])
        self.table = table

    def call(self, x):
        return x + ops.convert_to_tensor(self.table[: x.shape[1]], dtype=x.dtype)
''',
    "LearnedEncoding": '''
class LearnedEncoding(layers.Layer):
    """Adds a learned table of position vectors."""

    def __init__(self, max_len: int, d_model: int, **kwargs) -> None:
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.table = self.add_weight(
            shape=(max_len, d_model), initializer=init, name="table"
        )

    def call(self, x):
        return x + self.table[: x.shape[1]]
''',
    "LearnedTensor": '''
class LearnedTensor(layers.Layer):
    """A learned tensor every sample shares (batch dimension 1); called on an input only to join the graph."""

    def __init__(self, shape: tuple[int, ...], std: float = 0.02, **kwargs) -> None:
        super().__init__(**kwargs)
        init = keras.initializers.RandomNormal(stddev=std) if std else "zeros"
        self.weight = self.add_weight(
            shape=(1, *shape), initializer=init, name="weight"
        )

    def call(self, anchor):
        return ops.convert_to_tensor(self.weight)
''',
    "FixedTensor": '''
class FixedTensor(layers.Layer):
    """A fixed tensor every sample shares (batch dimension 1), saved with the weights."""

    def __init__(self, shape: tuple[int, ...], fill: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        init = keras.initializers.Constant(fill)
        self.value = self.add_weight(
            shape=(1, *shape), initializer=init, trainable=False, name="value"
        )

    def call(self, anchor):
        return ops.convert_to_tensor(self.value)
''',
    "rms_norm": '''
def rms_norm(t, axes: tuple[int, ...], eps: float):
    """t / sqrt(mean(t^2) + eps) over `axes`, with no learned scale."""
    return t * ops.rsqrt(ops.mean(ops.square(t), axis=axes, keepdims=True) + eps)
''',
    "dot_product_attention": '''
def dot_product_attention(q, k, v, mask=None, scale: float = 1.0, causal: bool = False):
    """softmax(q k^T * scale + mask) v, as torch's scaled_dot_product_attention."""
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) * scale
    if mask is not None:
        scores = scores + mask
    if causal:
        keep = ops.tril(ops.ones((q.shape[-2], k.shape[-2]))) > 0
        scores = ops.where(keep, scores, float("-inf"))
    return ops.matmul(ops.softmax(scores, axis=-1), v)
''',
    "LocalResponseNorm": '''
class LocalResponseNorm(layers.Layer):
    """torch.nn.LocalResponseNorm: divides by the energy of nearby channels (axis 1)."""

    def __init__(
        self, size: int, alpha: float, beta: float, k: float, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        pads = [(0, 0)] * len(x.shape)
        pads[1] = (self.size // 2, (self.size - 1) // 2)
        squares = ops.pad(ops.square(x), pads)
        energy = sum(squares[:, i : i + x.shape[1]] for i in range(self.size))
        return x / ops.power(self.k + self.alpha / self.size * energy, self.beta)

    def get_config(self):
        settings = {
            "size": self.size,
            "alpha": self.alpha,
            "beta": self.beta,
            "k": self.k,
        }
        return {**super().get_config(), **settings}
''',
}

IMPORTS = "import math\n\nimport keras\nimport numpy as np\nfrom keras import layers, ops"
FRAME = '''
def build_model(weights: str | None = None) -> keras.Model:
    model = keras.Model(inputs=None, outputs=None, name="")
    if weights is not None:
        model.load_weights(weights)
    return model
'''
# Every name the file's fixed text uses, and build_model's own locals (the layers' variables join them).
KERAS_NAMES = template_names("\n\n".join([IMPORTS, *HELPERS.values(), FRAME]), hosts={"build_model"})


def apply_lines(indent: str, target: str, expr: Expr) -> list[str]:
    """Lines for `target = expr`, wrapped as black wraps `layers.X(...)(x)`."""
    if not isinstance(expr, Apply):
        return assign(indent, target, expr)
    one = f"{indent}{target} = {expr.text()}"
    if len(one) <= LINE:
        return [one]
    head = f"{indent}{target} = {expr.layer.text()}("
    if len(head) <= LINE:  # black splits the last bracket first when its head fits
        return _bracket(head, indent, expr.args)
    opening, args = f"{target} = {expr.layer.func}(", list(expr.layer.args)
    lines = fit(indent, opening, args, ")")
    if len(lines) == 1:  # the constructor fits alone, but not with its call: split it anyway
        lines = [f"{indent}{opening}", f"{indent}{TAB}{', '.join(args)}", f"{indent})"]
    tail = f"{lines[-1]}({', '.join(expr.args)})"
    if len(tail) <= LINE:
        return [*lines[:-1], tail]
    return [*lines[:-1], *_bracket(f"{lines[-1]}(", indent, expr.args)]


def _bracket(head: str, indent: str, args: tuple[str, ...]) -> list[str]:
    """`head` ending in an open bracket, then `args` one level in, then the closing bracket."""
    body = f"{indent}{TAB}{', '.join(args)}"
    if len(body) <= LINE:
        return [head, body, f"{indent})"]
    if len(args) == 1 and args[0].startswith("["):  # a merge's list of inputs
        items = [a.strip() for a in args[0].strip("[]").split(",")]
        return [head, *fit(indent + TAB, "[", items, "]"), f"{indent})"]
    return [head, *(f"{indent}{TAB}{a}," for a in args), f"{indent})"]


@dataclass(frozen=True)
class KerasPlan:
    """What generation decided: the source, and for each node the Keras layers that take its weights."""

    source: str
    torch_names: dict[str, str]  # flattened node id -> PyTorch module path (the state-dict prefix)
    weights: dict[str, dict[str, Convert]]  # flattened node id -> {Keras layer name: converter}


class _Emitter:
    """Builds the Keras source of one project; one instance per generation."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.graph = project.graph
        self.analysis = snapshot_analysis(self.graph)
        refuse_errors(self.project, self.analysis, "Keras code")
        self.order = self.analysis.ordered_ids()
        self.names = Namespace(RESERVED | KERAS_NAMES | frozenset(HELPERS))
        self.model_name = self.names.class_name(project.name)
        self.ident = {n: self.names.identifier(self.graph.nodes[n].name) for n in self.order}
        self.inputs = [n for n, node in self.graph.nodes.items() if node.type == "Input"]
        self.outputs = [n for n, node in self.graph.nodes.items() if node.type == "Output"]
        live = feeding_outputs(self.graph)
        self.raw = {  # a standardized Input's keras.Input, and the name of its Normalization layer
            n: (self.names.identifier(f"{node.name} raw"), self.names.identifier(f"{node.name} standardize"))
            for n, node in self.graph.nodes.items()
            if n in self.inputs and node.params["mean"]
        }
        self.uses = Uses()
        self.runs = {n: self.uses.runs(node, self.analysis.result(n)) for n, node in self.graph.nodes.items() if node.block is not None}
        self.functions = BlockFunctions(self.uses, self.names, RESERVED | KERAS_NAMES | frozenset(HELPERS))
        several = any(len(r) > 1 for r in self.runs.values())
        self.loop = self.names.identifier("index") if several else ""
        self.emitted: dict[str, Emitted] = {}
        self.instances: dict[str, Applied] = {}
        problems = []
        for node_id in self.order:
            node = self.graph.nodes[node_id]
            if node.type in ("Input", "Output") or node_id not in live:
                continue
            if node.block is not None:
                self.instances[node_id] = self.functions.applied(self.ident[node_id], (), self.runs[node_id], self.loop, "")
                continue
            target = node.spec.targets["keras"]
            if isinstance(target, Unsupported) or node.spec.keras is None:
                reason = target.reason if isinstance(target, Unsupported) else "its layer type has no Keras form"
                problems.append(problem_line(node, reason))
                continue
            try:
                self.emitted[node_id] = node.spec.keras(self._site(node_id))
            except Inexpressible as err:
                problems.append(problem_line(node, str(err)))
        problems += list(dict.fromkeys(self.functions.problems))
        if problems:
            head = f"cannot generate Keras code for {self.project.name!r}: Keras 3 cannot express these layers"
            raise CodegenError(head + "\n" + "\n".join(problems))
        self.labels = self._labels()

    def _labels(self) -> dict[str, str]:
        """Each instance's prefix: its name, unless a Keras layer it makes would take a name the network has already."""
        taken = {self.ident[n] for n in self.inputs} | {layer for _, layer in self.raw.values()}
        taken |= {name for e in self.emitted.values() for step in e.steps for name in layer_names(step)}
        labels = {}
        for node_id in self.instances:
            label, k = self.ident[node_id], 1
            while True:
                made = self.functions.layer_names(self.runs[node_id], label)
                if not (set(made) & taken) and len(set(made)) == len(made):
                    break
                k += 1
                label = f"{self.ident[node_id]}_{k}"
            taken |= set(made)
            labels[node_id] = label
            args = tuple(a or "None" for a in self._site(node_id).args)
            self.instances[node_id] = self.functions.applied(self.ident[node_id], args, self.runs[node_id], self.loop, label)
        return labels

    def _site(self, node_id: str) -> Site:
        node = self.graph.nodes[node_id]
        result = self.analysis.result(node_id)
        args = []
        for port in node.spec.input_ports(node.params):
            edge = self.graph.source_of(node_id, port.name)
            args.append(None if edge is None else self._value(edge))
        assert result.outputs
        output = next(iter(result.outputs.values()))  # the first piece of a layer with several
        anchor = self.ident[self.inputs[0]] if self.inputs else ""
        reads = read_ports(self.graph, node_id)
        return Site(dict(node.params), result.inputs, output, self.ident[node_id], tuple(args), self.names.identifier, anchor, reads)

    def _value(self, edge: Edge) -> str:
        """The variable that holds what an edge carries: its layer's, or one piece of a layer's list of pieces."""
        index = piece(self.graph, edge)
        return self.ident[edge.src] if index is None else f"{self.ident[edge.src]}[{index}]"

    def _comment(self, node_id: str) -> str:
        return node_comment(self.graph, self.analysis, node_id)

    # ----- the file -----
    def plan(self) -> KerasPlan:
        weights = {n: e.weights for n, e in self.emitted.items() if e.weights}
        for node_id, runs in self.runs.items():
            if node_id in self.instances:
                for k, run in enumerate(runs):
                    prefix = self.labels[node_id] + (f"_{k}" if len(runs) > 1 else "")
                    self.functions.weights(run, prefix, f"{node_id}.{k}.", weights)
        return KerasPlan(self.source(), module_names(self.project), weights)

    def source(self) -> str:
        used_helpers = {h for e in self.emitted.values() for h in e.helpers} | self.functions.helpers()
        helpers = sorted(used_helpers, key=list(HELPERS).index)
        functions = self.functions.source(apply_lines)
        body = "\n\n\n".join([*functions, "\n".join(self._build_model())])
        used = body + "".join(HELPERS[h] for h in helpers)
        names = ", ".join(n for n in ("layers", "ops") if f"{n}." in used)
        imports = ["import keras", *([f"from keras import {names}"] if names else [])]
        if "SinusoidalEncoding" in helpers:
            imports = ["import math", "", "import keras", "import numpy as np", *imports[1:]]
        head = f'"""{self.model_name}: Keras 3 code generated by Layer Studio (channels-first layout)."""\n\n' + "\n".join(imports)
        sections = [head, *(HELPERS[h].strip() for h in helpers), body]
        return "\n\n\n".join(sections) + "\n"

    def _build_model(self) -> list[str]:
        lines = [
            "def build_model(weights: str | None = None) -> keras.Model:",
            f'{TAB}"""Build the network; given a path to a .weights.h5 file, load its weights."""',
        ]
        for node_id in self.inputs:
            node = self.graph.nodes[node_id]
            args = [f"shape={literal(tuple(node.params['shape']))}"]
            if node.params["dtype"] != "float32":
                args.append(f"dtype={literal(node.params['dtype'])}")
            args.append(f"name={literal(self.ident[node_id])}")
            lines.append(f"{TAB}{self._comment(node_id)}")
            name = self.ident[node_id]
            raw, layer = self.raw.get(node_id, (name, ""))
            lines += assign(TAB, raw, _call("keras.Input", args))
            if layer:
                lines += apply_lines(TAB, name, Apply(_normalization(node.params, layer), (raw,)))
        for node_id in self.order:
            if node_id in self.instances:
                lines.append(f"{TAB}{self._comment(node_id)}")
                applied = self.instances[node_id]
                lines += self.functions.applied_lines(TAB, applied, applied.calls, "")
            elif node_id in self.emitted:
                lines.append(f"{TAB}{self._comment(node_id)}")
                for step in self.emitted[node_id].steps:
                    lines += apply_lines(TAB, step.target, step.expr)
        results = []
        for out in self.outputs:
            edge = self.graph.source_of(out, "in")
            assert edge is not None
            results.append(self._value(edge))
            lines.append(f"{TAB}{self._comment(out)}")
        ins = [self.raw.get(n, (self.ident[n], ""))[0] for n in self.inputs]
        inputs = ins[0] if len(ins) == 1 else f"[{', '.join(ins)}]"
        outputs = results[0] if len(results) == 1 else f"[{', '.join(results)}]"
        model = _call("keras.Model", [f"inputs={inputs}", f"outputs={outputs}", f"name={literal(self.model_name)}"])
        made = assign(TAB, "model", model)
        if any(len(line) > LINE for line in made):  # a list of inputs or outputs too long for one line
            made = ["    model = keras.Model(", *_listed("inputs", ins), *_listed("outputs", results)]
            made += [f"{TAB * 2}name={literal(self.model_name)},", f"{TAB})"]
        lines += made
        lines += [f"{TAB}if weights is not None:", f"{TAB * 2}model.load_weights(weights)", f"{TAB}return model"]
        return lines


def _listed(key: str, names: list[str]) -> list[str]:
    """A keyword argument `key=[a, b]` one level in, the list split when it is too long."""
    one = f"{TAB * 2}{key}={names[0] if len(names) == 1 else '[' + ', '.join(names) + ']'},"
    if len(one) <= LINE or len(names) == 1:
        return [one]
    return [f"{TAB * 2}{key}=[", *(f"{TAB * 3}{n}," for n in names), f"{TAB * 2}],"]


def _normalization(params: dict[str, Any], name: str) -> Call:
    """keras' Normalization with an Input's mean and std: per channel (axis 1, channels first) or per feature."""
    sample = params["shape"]
    axis = standardized_axis(sample)
    size = sample[axis]
    mean, std = (v * size if len(v) == 1 else v for v in (params["mean"], params["std"]))
    return _call(
        "layers.Normalization",
        [
            f"axis={1 if axis == 0 and len(sample) > 1 else -1}",
            f"mean={float_list(mean, TAB * 2)}",
            f"variance={float_list(tuple(s * s for s in std), TAB * 2)}",
            f"name={literal(name)}",
        ],
    )


def _call(func: str, args: list[str]) -> Call:
    return Call(func, tuple(args))


def plan_keras(project: Project) -> KerasPlan:
    """Generate the Keras source of `project` with the weight mapping `write_keras_weights` uses."""
    return _Emitter(project).plan()


def generate_keras(project: Project) -> str:
    """Return the Keras 3 source of `project`.

    Raises:
        CodegenError: the graph has errors, or layers Keras cannot express (all of them listed).
    """
    return _Emitter(project).source()


def write_keras_weights(project: Project, source: str, torch_state_dict: dict[str, Any], path: str | Path) -> None:
    """Build the Keras model from `source`, give it the PyTorch weights and save them to `path`.

    `path` must end with `.weights.h5` (Keras insists); the caller writes to a temporary such path
    and renames it. Raises CodegenError when a layer's converted weights do not fit its Keras layer,
    KerasBackendError when Keras or its backend cannot load.
    """
    load_keras()  # before running the source: picks the backend, and fails clearly when it cannot load
    if not str(path).endswith(".weights.h5"):
        raise ValueError(f"{path}: a Keras weights file name must end with .weights.h5")
    plan = plan_keras(project)
    namespace: dict[str, Any] = {"__name__": "layer_studio_keras_export"}
    exec(compile(source, "<keras export>", "exec"), namespace)  # noqa: S102 - our own generated, sanitized code
    model = namespace["build_model"]()
    arrays = {k: v.detach().cpu().numpy() for k, v in torch_state_dict.items()}
    covered = {name for converters in plan.weights.values() for name in converters}
    present = {layer.name for layer in model.layers}
    missed = [layer.name for layer in model.layers if layer.weights and layer.name not in covered]
    if missed:  # a Keras layer left with its random initial weights would silently compute otherwise
        raise CodegenError(f"no PyTorch weights are mapped to the Keras layers {', '.join(missed)}")
    for node_id, converters in plan.weights.items():
        prefix = plan.torch_names[node_id] + "."

        def torch_array(key: str, prefix: str = prefix) -> Any:
            return arrays[prefix + key]

        for layer_name, convert in converters.items():
            if layer_name not in present:
                continue  # inside a block, on a path to an output the network does not read: Keras leaves it out
            target = model.get_layer(layer_name)
            values = convert(torch_array)
            expected = [tuple(v.shape) for v in target.weights]
            got = [tuple(v.shape) for v in values]
            if expected != got:
                name = plan.torch_names.get(node_id, node_id)
                raise CodegenError(f"{name}: Keras layer {layer_name!r} holds weights {expected} but PyTorch gives {got}")
            for variable, value in zip(target.weights, values):
                variable.assign(value.astype(variable.dtype))
    with warnings.catch_warnings():  # Keras 3.15 variables predate numpy 2's __array__(copy=...)
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        model.save_weights(str(path))


__all__ = ["KerasPlan", "Step", "generate_keras", "plan_keras", "write_keras_weights"]
