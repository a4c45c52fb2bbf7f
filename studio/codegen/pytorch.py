"""Graph to PyTorch source: one nn.Module class, a forward in topological order, build_model().

The output reads like code a careful person wrote and is black-clean as emitted (lines are
wrapped the way black wraps them), so it needs no formatter at run time. Names from the
project go through one `Namespace`; values are emitted as literals. Torch is not imported here.
A block becomes a class of its own (`pytorch_blocks`), which its instances are built from.
"""

from __future__ import annotations

from functools import cache

from studio.codegen.checks import (
    feeding_outputs,
    node_comment,
    piece,
    read_ports,
    refuse_errors,
)
from studio.codegen.contexts import Uses
from studio.codegen.layout import (
    LINE,
    TAB,
    Nested,
    assign,
    fit,
    float_list,
    nested_lines,
)
from studio.codegen.names import RESERVED, CodegenError, Namespace, template_names
from studio.codegen.pytorch_blocks import (
    BlockClasses,
    Looped,
    instance_forward,
    instance_template,
)
from studio.codegen.pytorch_helpers import HELPER_NAMES, HELPERS
from studio.codegen.script_template import script_names
from studio.graph.catalogue.core import standardized_axis
from studio.graph.catalogue.pytorch_records import Call, Emitted, Site
from studio.graph.model import Edge
from studio.graph.project import Project
from studio.graph.shapes import ShapeAnalysis, snapshot_analysis

__all__ = ["HELPERS", "HELPER_NAMES", "LINE", "TAB", "generate_pytorch", "model_reserved", "module_names"]

IMPORTS = "import math\n\nimport torch\nfrom torch import nn"
FRAME = "class _Network(nn.Module):\n    def __init__(self) -> None:\n        super().__init__()\n\n    def forward(self):\n        return None\n"


@cache
def model_reserved() -> frozenset[str]:
    """The names the model's code leaves free: those of its file (imports, helpers, frame) and of the training script it is copied into."""
    fixed = template_names("\n\n".join([IMPORTS, *HELPERS.values()]))
    frame = template_names(FRAME + "\n\n" + "\n".join(build_model_lines("_Network")), hosts={"__init__", "forward", "build_model"})
    return RESERVED | HELPER_NAMES | fixed | frame | script_names()


class _Emitter:
    """Builds the source of one project; one instance per generation."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.graph = project.graph
        self.analysis: ShapeAnalysis = snapshot_analysis(self.graph)
        refuse_errors(self.project, self.analysis, "PyTorch code")
        self.names = Namespace(model_reserved())
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
        self.uses = Uses()
        self.runs = {
            node_id: self.uses.runs(node, self.analysis.result(node_id))
            for node_id, node in self.graph.nodes.items()
            if node.block is not None
        }
        self.classes = BlockClasses(self.uses, frozenset({self.class_name}), model_reserved())
        loop = self.names.identifier("run") if any(len(r) > 1 and len(self.graph.nodes[n].block.input_ids()) > 1 for n, r in self.runs.items()) else ""
        self.emitted: dict[str, Emitted] = {}
        self.instances: dict[str, tuple[Nested | str, Call | Looped]] = {}
        for node_id in self.order:
            node = self.graph.nodes[node_id]
            if node.block is not None:
                runs = self.runs[node_id]
                several = len(node.block.input_ids()) > 1
                built = self.classes.nested(instance_template([self.classes.call(run) for run in runs], several))
                args = tuple(a or "None" for a in self._site(node_id).args)
                self.instances[node_id] = (built, instance_forward(f"self.{self.ident[node_id]}", args, len(runs), several, loop))
            elif node.type not in ("Input", "Output"):
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

    def module_names(self) -> dict[str, str]:
        """Each layer's module path by its flattened node id (`n5.0.n2` -> `layer1_0.conv1`)."""
        found = {n: self.ident[n] for n, emitted in self.emitted.items() if emitted.module is not None}
        for node_id, runs in self.runs.items():
            for k, run in enumerate(runs):
                path = f"{self.ident[node_id]}." + (f"{k}." if len(runs) > 1 else "")
                self.classes.paths(run, f"{node_id}.{k}.", path, found)
        return found

    def _comment(self, node_id: str) -> str:
        return node_comment(self.graph, self.analysis, node_id)

    # ----- the file -----
    def source(self) -> str:
        used = {h for e in self.emitted.values() for h in e.helpers} | self.classes.helpers()
        used |= {"Standardize"} if self.standardize else set()
        helpers = sorted(used, key=list(HELPERS).index)
        imports = IMPORTS if "SinusoidalEncoding" in helpers else IMPORTS.replace("import math\n\n", "")
        head = f'"""{self.class_name}: PyTorch code generated by Layer Studio."""\n\n{imports}'
        classes = self.classes.source()
        sections = [head, *(HELPERS[h].strip() for h in helpers), *classes, "\n".join(self._class()), "\n".join(build_model_lines(self.class_name))]
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
        for node_id in self.order:
            if node_id in self.instances:
                lines += nested_lines(TAB * 2, f"self.{self.ident[node_id]} = ", self.instances[node_id][0])
            elif node_id in self.emitted and self.emitted[node_id].module is not None:
                lines += assign(TAB * 2, f"self.{self.ident[node_id]}", self.emitted[node_id].module)
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
        for node_id in self.order:
            if node_id not in self.live or (node_id not in self.emitted and node_id not in self.instances):
                continue
            name = self.ident[node_id]
            body.append(f"{TAB * 2}{self._comment(node_id)}")
            if node_id in self.instances:
                forward = self.instances[node_id][1]
                body += forward.lines(TAB * 2, name) if isinstance(forward, Looped) else assign(TAB * 2, name, forward)
                continue
            emitted = self.emitted[node_id]
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


def build_model_lines(class_name: str) -> list[str]:
    """The file's `build_model`, which makes the network and loads a state dict into it."""
    return [
        "def build_model(weights: str | None = None) -> nn.Module:",
        f'{TAB}"""Build the network; given a path, load its state dict (tensors only)."""',
        f"{TAB}model = {class_name}()",
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


def generate_pytorch(project: Project) -> str:
    """Return the PyTorch source of `project`: a class per block, then the network's; CodegenError if its graph has errors."""
    return _Emitter(project).source()


def module_names(project: Project) -> dict[str, str]:
    """The module of the generated model that holds each layer: flattened node id -> dotted path.

    State-dict keys of the generated model are `<path>.<parameter>` (`conv1.weight`, and
    `layer1_0.conv1.weight` for layer `n2` of instance `n5`, whose flattened id is `n5.0.n2`,
    as `graph.flatten` names it and the project's weights files key it). Layers without a
    module (Input, Output, and functional ones) are left out.
    """
    return _Emitter(project).module_names()
