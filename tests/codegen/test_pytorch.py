"""The PyTorch emitter: generated code runs, matches the analysis, resists hostile names, reads well.

Every example and every catalogue layer is generated, executed in a fresh namespace and run
on a random batch; output shapes, parameter and buffer counts must equal studio's analysis,
and single layers must compute what the independent references in tests/graph/reference do.
Set UPDATE_GOLDEN=1 to rewrite the golden files.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from studio.codegen.names import MODULE_ATTRIBUTES, CodegenError, Namespace
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.pytorch_layers import EMITTERS
from studio.graph import CATALOGUE, Graph, analyse
from studio.graph.project import Project, load_project
from tests.graph.reference import CASES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.lstudio"))
GOLDEN = Path(__file__).resolve().parent / "golden"
BATCH = 2


def run_source(source: str) -> dict[str, Any]:
    """Execute generated source in a fresh module namespace."""
    namespace: dict[str, Any] = {"__name__": "generated_model"}
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace


def sample_inputs(graph: Graph) -> list[torch.Tensor]:
    """A random batch for each Input node, in graph order (token ids below the smallest vocabulary)."""
    vocab = min((n.params["num_embeddings"] for n in graph.nodes.values() if n.type == "Embedding"), default=2)
    xs = []
    for node in graph.nodes.values():
        if node.type == "Input":
            shape = (BATCH, *node.params["shape"])
            if node.params["dtype"] == "int64":
                xs.append(torch.randint(0, vocab, shape))
            else:
                xs.append(torch.randn(shape))
    return xs


def check_project(project: Project) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], list[torch.Tensor]]:
    """Generate, build and run `project`; assert shapes and counts agree with the analysis."""
    source = generate_pytorch(project)
    assert generate_pytorch(project) == source, "generation is not deterministic"
    model = run_source(source)["build_model"]()
    model.eval()
    xs = sample_inputs(project.graph)
    with torch.no_grad():
        out = model(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    analysis = analyse(project.graph)
    expected = []
    for node_id, node in project.graph.nodes.items():
        if node.type == "Output":
            shape = analysis.result(node_id).inputs[0]
            expected.append((BATCH, *shape[1:]))
    assert [tuple(o.shape) for o in outs] == expected
    summary = analysis.summary()
    learnable = {name for name, _ in model.named_parameters()}
    n_params = sum(p.numel() for p in model.parameters())
    saved = model.state_dict()
    n_buffers = sum(t.numel() for k, t in saved.items() if k not in learnable and not k.endswith("num_batches_tracked"))
    assert n_params == summary.trainable_params
    assert n_buffers == summary.total_params - summary.trainable_params
    return model, outs, xs


# ----- examples -----
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_and_matches_the_analysis(path: Path) -> None:
    check_project(load_project(path))


def test_weights_round_trip_through_build_model(tmp_path: Path) -> None:
    project = load_project(ROOT / "assets" / "examples" / "digits_cnn.lstudio")
    namespace = run_source(generate_pytorch(project))
    model = namespace["build_model"]()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    loaded = namespace["build_model"](str(tmp_path / "weights.pt"))
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)


# ----- every layer type -----
IMAGE, SEQUENCE, VECTOR, TOKENS = (3, 8, 8), (6, 8), (16,), (6,)


def typical_input(layer_type: str) -> tuple[int, ...]:
    """A per-sample input shape the layer accepts with its default parameters."""
    if layer_type == "Embedding":
        return TOKENS
    if layer_type == "GroupNorm":
        return (8, 4, 4)
    if layer_type.endswith("3d"):
        return (3, 4, 4, 4)
    if layer_type.endswith("1d") and layer_type != "BatchNorm1d":
        return (6, 8)
    if layer_type in ("LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer", "PositionalEncoding",
                      "SequencePool", "LayerNorm", "Permute"):  # fmt: skip
        return SEQUENCE
    if layer_type in ("Linear", "Reshape", "BatchNorm1d"):
        return VECTOR
    return IMAGE


def single_layer(layer_type: str, params: dict[str, Any], shapes: list[tuple[int, ...]] | None = None) -> Project:
    """A project Input(s) -> layer -> Output; one Input per given shape, wired to the ports in order."""
    graph = Graph()
    layer = graph.add_node(layer_type, name="layer", params=params)
    ports = layer.spec.input_ports(layer.params)
    if shapes is None:
        required = [p for p in ports if not p.optional]
        shapes = [typical_input(layer_type)] * len(required)
    dtype = "int64" if layer_type == "Embedding" else "float32"
    for i, (port, shape) in enumerate(zip(ports, shapes)):
        source = graph.add_node("Input", name=f"x{i + 1}", params={"shape": shape, "dtype": dtype})
        graph.connect(source.id, "out", layer.id, port.name)
    sink = graph.add_node("Output", name="y")
    graph.connect(layer.id, "out", sink.id, "in")
    return Project(name=f"{layer_type} test", graph=graph)


VARIANTS: list[tuple[str, dict[str, Any], list[tuple[int, ...]] | None]] = [
    ("Conv2d", {"out_channels": 6, "padding": "same", "groups": 3}, None),
    (
        "Conv2d",
        {"out_channels": 4, "kernel_size": (3, 2), "stride": 2, "padding": (1, 0), "dilation": (2, 1), "bias": False, "padding_mode": "reflect"},
        None,
    ),
    ("Conv1d", {"out_channels": 4, "padding": "valid", "padding_mode": "circular"}, None),
    ("ConvTranspose2d", {"out_channels": 4, "stride": 2, "padding": 1, "output_padding": 1, "groups": 1}, None),
    ("DepthwiseConv2d", {"depth_multiplier": 2, "stride": 2, "bias": False}, None),
    ("SeparableConv2d", {"out_channels": 5, "depth_multiplier": 2, "padding": "same", "bias": False}, None),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, None),
    ("MaxPool1d", {"kernel_size": 3, "stride": "kernel", "padding": 1, "dilation": 2}, None),
    ("AvgPool2d", {"kernel_size": 3, "stride": (1, 2), "padding": 1, "count_include_pad": False}, None),
    ("AdaptiveAvgPool2d", {"output_size": (2, 3)}, None),
    ("Upsample", {"scale_factor": (2, 3), "mode": "bilinear"}, None),
    ("ZeroPad2d", {"padding": (1, 2, 0, 3)}, None),
    ("LSTM", {"hidden_size": 5, "bidirectional": True, "return_sequences": True, "num_layers": 2}, None),
    ("LSTM", {"hidden_size": 5, "bidirectional": True, "num_layers": 2, "dropout": 0.2}, None),
    ("GRU", {"hidden_size": 5, "bidirectional": True}, None),
    ("RNN", {"hidden_size": 5, "nonlinearity": "relu", "bias": False, "return_sequences": True}, None),
    ("MultiheadAttention", {"num_heads": 2}, [(6, 8), (5, 4)]),
    ("MultiheadAttention", {"num_heads": 4, "bias": False}, [(6, 8), (5, 4), (5, 3)]),
    (
        "TransformerEncoderLayer",
        {"nhead": 2, "dim_feedforward": 16, "activation": "gelu", "norm_first": True, "bias": False},
        None,
    ),
    ("PositionalEncoding", {"kind": "learned", "max_len": 10}, None),
    ("PositionalEncoding", {"max_len": 6}, [(6, 7)]),
    ("SequencePool", {"mode": "max"}, None),
    ("SequencePool", {"mode": "first"}, None),
    ("SequencePool", {"mode": "last"}, None),
    ("LayerNorm", {"num_dims": 2, "bias": False}, None),
    ("GroupNorm", {"num_groups": 2, "affine": False, "eps": 1e-3}, None),
    ("BatchNorm2d", {"track_running_stats": False, "momentum": 0.2}, None),
    ("BatchNorm1d", {}, [(6, 8)]),
    ("InstanceNorm2d", {"affine": True, "track_running_stats": True}, None),
    ("PReLU", {"per_channel": True, "init": 0.1}, None),
    ("GELU", {"approximate": "tanh"}, None),
    ("Softmax", {"dim": 1}, None),
    ("Reshape", {"shape": (4, -1)}, None),
    ("Permute", {"dims": (2, 3, 1)}, [IMAGE]),
    ("Slice", {"dim": 2, "start": 3, "length": 4}, None),
    ("Slice", {"dim": -1, "start": 2, "length": 0}, [SEQUENCE]),
    ("Slice", {"dim": 1, "start": 0, "length": 0}, None),
    ("Add", {"num_inputs": 3}, [IMAGE] * 3),
    ("Maximum", {"num_inputs": 3}, [IMAGE] * 3),
    ("Concat", {"num_inputs": 3, "dim": -1}, [(3, 8, 2), (3, 8, 5), (3, 8, 1)]),
]


def layer_cases() -> list[Any]:
    cases = [pytest.param(t, {}, None, id=t) for t in sorted(set(CATALOGUE) - {"Input", "Output"})]
    for i, (layer_type, params, shapes) in enumerate(VARIANTS):
        cases.append(pytest.param(layer_type, params, shapes, id=f"{layer_type}-{i}"))
    return cases


def test_every_layer_type_has_an_emitter() -> None:
    assert set(EMITTERS) == set(CATALOGUE) - {"Input", "Output"}


def copy_by_order(source: torch.nn.Module, target: torch.nn.Module) -> bool:
    """Copy `source`'s state into `target` entry by entry; False when the layouts differ."""
    a, b = source.state_dict(), target.state_dict()
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a.values(), b.values())):
        return False
    target.load_state_dict(dict(zip(b.keys(), a.values())))
    return True


@pytest.mark.parametrize(("layer_type", "params", "shapes"), layer_cases())
def test_layer_runs_and_matches_the_reference(layer_type: str, params: dict, shapes: list | None) -> None:
    torch.manual_seed(0)
    project = single_layer(layer_type, params, shapes)
    model, outs, xs = check_project(project)
    layer = project.graph.node_by_name("layer")
    assert layer is not None
    full = [tuple(x.shape) for x in xs]
    reference = CASES[layer_type].build(dict(layer.params), full)
    reference.eval()
    assert copy_by_order(model, reference), "the generated layer's state does not line up with the reference"
    with torch.no_grad():
        expected = reference(*xs)
    torch.testing.assert_close(outs[0], expected)


# ----- errors and names -----
def test_a_graph_with_errors_is_refused_naming_the_nodes() -> None:
    graph = Graph()
    image = graph.add_node("Input", "image", {"shape": (3, 8, 8)})
    fc = graph.add_node("Linear", "fc")
    graph.connect(image.id, "out", fc.id, "in")
    graph.add_node("ReLU", "dangling")
    with pytest.raises(CodegenError) as err:
        generate_pytorch(Project(name="broken", graph=graph))
    text = str(err.value)
    assert "fc: Linear 'fc' needs a 2-D input" in text and "dangling:" in text and "no Output" in text


def test_unused_branch_keeps_its_weights_and_inputs_keep_their_order() -> None:
    graph = Graph()
    first = graph.add_node("Input", "first", {"shape": (4,)})
    second = graph.add_node("Input", "second", {"shape": (3,)})
    used = graph.add_node("Linear", "used", {"out_features": 2})
    unused = graph.add_node("Linear", "unused", {"out_features": 5})
    graph.connect(second.id, "out", used.id, "in")
    graph.connect(first.id, "out", unused.id, "in")
    for name, source in (("a", used), ("b", first)):
        sink = graph.add_node("Output", name)
        graph.connect(source.id, "out", sink.id, "in")
    project = Project(name="branches", graph=graph)
    _, outs, xs = check_project(project)  # counts include the unused Linear's weights
    assert torch.equal(outs[1], xs[0])
    assert "unused = self.unused(" not in generate_pytorch(project)


def test_namespace_makes_safe_unique_identifiers() -> None:
    names = Namespace()
    made = [names.identifier(n) for n in ["conv 1", "conv_1", "1st", "class", "self", "", "名前", "café", "__x__", "torch"]]
    assert made == ["conv_1", "conv_1_2", "layer_1st", "class_", "self_", "layer", "layer_2", "cafe", "x", "torch_"]
    assert all(m.isidentifier() for m in made)
    assert names.class_name("digits_cnn") == "DigitsCnn"
    assert names.class_name("none") == "None_"
    assert names.class_name("3d net") == "Model3dNet"


def test_reserved_names_cover_every_module_attribute() -> None:
    public = {name for name in dir(torch.nn.Module) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES | {"forward"}, sorted(public - MODULE_ATTRIBUTES)


HOSTILE = [
    "import os", "__import__('os').system('x')", "1st layer", "class", "self", "torch", "x\ny", "\"';",
    "名前", "a b", "a_b", "training", "forward", "x\r\n)\nimport os  #", "\u202eevil", "None", "F",
]  # fmt: skip


def hostile_project() -> Project:
    graph = Graph()
    first = graph.add_node("Input", HOSTILE[0], {"shape": (4,)})
    previous = first
    for name in HOSTILE[1:]:
        node = graph.add_node("Linear", name, {"out_features": 4})
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    second = graph.add_node("Input", "import os ", {"shape": (4,)})
    add = graph.add_node("Add", 'exec("1")')
    graph.connect(previous.id, "out", add.id, "in1")
    graph.connect(second.id, "out", add.id, "in2")
    for name in ("out'\"", "out\n"):
        sink = graph.add_node("Output", name)
        graph.connect(add.id, "out", sink.id, "in")
    return Project(name='os.system("rm")', graph=graph)


def test_hostile_names_cannot_inject_code() -> None:
    project = hostile_project()
    source = generate_pytorch(project)
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert imports == ["import torch", "from torch import nn"]
    words = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    words |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not words & {"os", "system", "exec", "eval", "__import__", "x\ny"}
    for node in ast.walk(tree):  # the only string constants are docstrings and literals we emit
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert all(n not in node.value for n in HOSTILE if len(n) > 2), node.value
    for line in source.splitlines():  # a raw name survives only in a comment
        code = line.split("#", 1)[0]
        assert not any(name in code for name in HOSTILE if not name.isidentifier()), line
    model, outs, _ = check_project(project)
    assert len(outs) == 2
    assert isinstance(model.training, bool) and isinstance(model.training_, torch.nn.Linear)
    assert type(model).__name__ == "OsSystemRm"


# ----- reading well -----
def golden_projects() -> dict[str, Project]:
    return {name: load_project(ROOT / "assets" / "examples" / f"{name}.lstudio") for name in ("digits_cnn", "lenet5", "resnet_small")}


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "resnet_small"])
def test_golden_source(name: str) -> None:
    source = generate_pytorch(golden_projects()[name])
    path = GOLDEN / f"{name}.py"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8")


def assert_ruff_clean(ruff: str, sources: dict[str, str], folder: Path) -> None:
    """Write each generated source to `folder` and require `ruff format` and `ruff check` to pass."""
    for stem, text in sources.items():
        (folder / f"{stem}.py").write_text(text, encoding="utf-8")
    fmt = subprocess.run([ruff, "format", "--isolated", "--diff", str(folder)], capture_output=True, text=True, check=False)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run([ruff, "check", "--isolated", str(folder)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def _ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.exists() else shutil.which("ruff")


def test_generated_code_is_ruff_and_black_clean(tmp_path: Path) -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (add it to the dev extras) so formatting cannot be checked")
    sources = {p.stem: generate_pytorch(load_project(p)) for p in EXAMPLES}
    for i, case in enumerate(layer_cases()):
        sources[f"layer_{i}"] = generate_pytorch(single_layer(*case.values))
    sources["hostile"] = generate_pytorch(hostile_project())
    long = Graph()
    previous = long.add_node("Input", "an input with a long and descriptive name", {"shape": (3, 8, 8)})
    for i in range(3):
        node = long.add_node("Conv2d", f"a convolution with a very long descriptive name {i}",
                             {"out_channels": 8, "kernel_size": 3, "padding": 1, "stride": 1, "bias": False,
                              "dilation": 1, "padding_mode": "reflect"})  # fmt: skip
        long.connect(previous.id, "out", node.id, "in")
        previous = node
    other = long.add_node("Input", "another input with a long and descriptive name", {"shape": (8, 8, 8)})
    add = long.add_node("Add", "the sum of the long named convolution and the other long input")
    long.connect(previous.id, "out", add.id, "in1")
    long.connect(other.id, "out", add.id, "in2")
    sink = long.add_node("Output", "out")
    long.connect(add.id, "out", sink.id, "in")
    sources["long_names"] = generate_pytorch(Project(name="long names", graph=long))
    assert_ruff_clean(ruff, sources, tmp_path)
