"""The LiteRT export: every example and catalogue layer runs in the LiteRT interpreter as PyTorch computes it, or is refused by name.

What runs where: each small example (`big_examples.SMALL`, under a million parameters) is converted
here; the two big ones (ResNet-18 and BERT mini of blocks, millions of parameters, most of this
module's time when converted) are not: every layer type they hold, inside their blocks too, is
converted here in a small example or in the one-conversion layer test (SWEEP), which
`test_the_big_examples_hold_no_layer_left_unconverted_here` checks, and a block is a PyTorch
submodule that torch.export traces through like any other. `benchmarks/litert_sweep.py` converts
every example, catalogue layer and variant; run it after upgrading litert-torch.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from studio.cli import main
from studio.codegen import litert
from studio.codegen.export import export_project
from studio.codegen.litert import (
    custom_operators,
    litert_bytes,
    load_litert,
    prepared,
    run_litert,
)
from studio.codegen.names import CodegenError
from studio.graph import Graph
from studio.graph.project import Project
from tests.codegen.big_examples import BIG, SMALL, layer_types
from tests.codegen.cases import (
    LAYER_TYPES,
    ROOT,
    example,
    layer_project,
    random_inputs,
    seeded_model,
)

pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_litert")

TOLERANCE = 1e-4  # relative to the largest magnitude PyTorch gives
REFUSED_EXAMPLES: dict[str, str] = {}  # example -> the layer its refusal names (none today: every example converts)
LAYER_VARIANTS: list[tuple[str, dict[str, Any], list[tuple[int, ...]] | None]] = [  # what `prepared` rewrites, and the batch
    ("ConvTranspose2d", {"out_channels": 4, "stride": 2, "padding": 1, "output_padding": 1}, None),
    ("ConvTranspose2d", {"out_channels": 6, "stride": 3, "padding": 2, "output_padding": 2, "dilation": 2, "groups": 3}, None),
    ("ConvTranspose1d", {"out_channels": 4, "stride": 2, "padding": 1, "dilation": 3}, None),
    ("ConvTranspose3d", {"out_channels": 6, "padding": 1, "groups": 3}, None),
    ("Conv3d", {"out_channels": 6, "stride": 2, "groups": 3, "padding": "valid"}, None),
    ("AdaptiveMaxPool2d", {"output_size": (3, 5)}, [(2, 7, 11)]),
    ("AdaptiveMaxPool1d", {"output_size": (4,)}, [(3, 10)]),
    ("LSTM", {"hidden_size": 5, "bidirectional": True}, None),
    ("GRU", {"hidden_size": 3, "reverse": True}, None),
    ("Resize", {"scale_factor": (2.0, 3.0), "mode": "nearest-exact"}, None),
    ("Resize", {"scale_factor": (1.5, 0.75), "mode": "bilinear"}, None),
    ("Flip", {"dims": (2, 3)}, None),
    ("Subtract", {}, [(4,), (4,)]),  # two inputs of one shape: fed in the wrong order, the difference flips
]
SWEEP = [  # layers no example holds, from families whose LiteRT forms differ most; benchmarks/litert_sweep.py converts the whole catalogue
    "Erf", "Log", "LPPool2d", "AdaptiveAvgPool2d", "ArgMax", "LogSumExp", "GroupNorm", "RMSNorm", "LocalResponseNorm",
    "PReLU", "PixelShuffle", "Cumsum", "IndexSelect", "Parameter", "SeparableConv2d", "ScaledDotProductAttention", "RNN",
    "GELU", "MultiheadAttention",  # the big BERT example's, which no small example holds
]  # fmt: skip


def relative_difference(got: list[np.ndarray], expected: list[torch.Tensor]) -> float:
    """The largest difference of any output, relative to the largest magnitude of that PyTorch output."""
    assert len(got) == len(expected)
    worst = 0.0
    for g, e in zip(got, expected, strict=True):
        e = e.detach().numpy()
        assert g.shape == e.shape
        worst = max(worst, float(np.abs(g.astype(np.float64) - e).max() / max(float(np.abs(e).max()), 1e-12)))
    return worst


def pytorch_outputs(model: torch.nn.Module, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The model's outputs as a list."""
    with torch.no_grad():
        out = model(*xs)
    return list(out) if isinstance(out, tuple) else [out]


def side_by_side(projects: list[Project]) -> Project:
    """One project holding each network beside the others (names prefixed), so one conversion proves them all."""
    graph = Graph()
    for i, project in enumerate(projects):
        ids = {}
        for node in project.graph.nodes.values():
            ids[node.id] = graph.add_node(node.type, name=f"c{i}_{node.name}", params=dict(node.params)).id
        for edge in project.graph.edges:
            graph.connect(ids[edge.src], edge.src_port, ids[edge.dst], edge.dst_port)
    return Project(name="litert layers", graph=graph)


# ----- every example -----
@pytest.fixture(scope="module")
def converted() -> dict[str, tuple[Project, torch.nn.Module, bytes | CodegenError]]:
    """Every small example with its seeded model and its `.tflite` (or refusal), converted once for the tests below."""

    def one(path: Path) -> tuple[Project, torch.nn.Module, bytes | CodegenError]:
        project = example(path)
        model = seeded_model(project)
        try:
            return project, model, litert_bytes(project, model)
        except CodegenError as err:
            return project, model, err

    return {path.stem: one(path) for path in SMALL}


@pytest.mark.parametrize("path", SMALL, ids=[p.stem for p in SMALL])
def test_every_example_runs_in_litert_as_in_pytorch_or_is_refused_by_layer(path: Path, converted: dict) -> None:
    project, model, data = converted[path.stem]
    if path.stem in REFUSED_EXAMPLES:
        assert isinstance(data, CodegenError) and REFUSED_EXAMPLES[path.stem] in str(data)
        return
    assert isinstance(data, bytes), data
    assert custom_operators(data) == []  # built-in operators only: no Flex, no custom op
    xs = random_inputs(project.graph, 1)
    difference = relative_difference(run_litert(data, [x.numpy() for x in xs]), pytorch_outputs(model, xs))
    print(f"{path.stem}: LiteRT within {difference:.1e} of PyTorch")
    assert difference <= TOLERANCE


def test_the_big_examples_hold_no_layer_left_unconverted_here() -> None:
    converted_here = {t for path in SMALL for t in layer_types(example(path).graph)} | set(SWEEP) | {t for t, _, _ in LAYER_VARIANTS}
    for path in BIG:
        graph = example(path).graph
        blocks = {t for t in layer_types(graph) if graph.library.get(t) is not None}
        assert layer_types(graph) - blocks - converted_here == set(), f"{path.stem}: convert these in SWEEP"


# ----- layers, in one conversion -----
def test_layers_of_every_family_and_the_rewritten_forms_run_in_litert_as_in_pytorch() -> None:
    assert set(SWEEP) <= set(LAYER_TYPES)
    cases = [layer_project(t) for t in SWEEP] + [layer_project(t, p, s) for t, p, s in LAYER_VARIANTS]
    project = side_by_side(cases)
    model = seeded_model(project)
    data = litert_bytes(project, model, batch=2)
    assert custom_operators(data) == []
    xs = [x for case in cases for x in random_inputs(case.graph, 2)]  # each layer's own kind of input (positive for Log)
    got, expected = run_litert(data, [x.numpy() for x in xs]), pytorch_outputs(model, xs)
    differences = [relative_difference([g], [e]) for g, e in zip(got, expected, strict=True)]
    print(f"{len(cases)} layers: LiteRT within {max(differences):.1e} of PyTorch")
    assert max(differences) <= TOLERANCE


def test_the_rewritten_forms_compute_what_the_layers_do() -> None:
    for layer_type, params, shapes in LAYER_VARIANTS:
        project = layer_project(layer_type, params, shapes)
        model = seeded_model(project)
        xs = random_inputs(project.graph, 2)
        assert relative_difference([t.numpy() for t in pytorch_outputs(prepared(model), xs)], pytorch_outputs(model, xs)) < 1e-6


REFUSED_LAYERS = [  # (type, parameters, what the refusal says): layers whose LiteRT form would fail or compute otherwise
    ("ConvTranspose3d", {"stride": 2}, "3-D transposed convolution with a stride (here (2, 2, 2)): use stride 1"),
    ("Resize", {"scale_factor": (1.5, 0.75)}, "unless each size grows by a whole factor (here 8x8 to 12x6): use whole scale factors"),
    ("Flip", {"dims": (1, 3)}, "adjacent dimensions only (here (1, 3)): use one Flip per run"),
]


@pytest.mark.parametrize(("layer_type", "params", "said"), REFUSED_LAYERS, ids=[t for t, _, _ in REFUSED_LAYERS])
def test_a_layer_litert_cannot_express_is_refused_by_name_and_nothing_is_written(layer_type: str, params: dict, said: str, tmp_path: Path) -> None:
    project = layer_project(layer_type, params)
    with pytest.raises(CodegenError) as refused:
        litert_bytes(project, seeded_model(project))
    message = str(refused.value)
    assert message.startswith(f"cannot export '{layer_type} test' to LiteRT") and f"  - layer: {layer_type}: " in message and said in message
    out = tmp_path / "model.tflite"
    with pytest.raises(CodegenError, match=f"layer: {layer_type}"):
        export_project(project, "litert", out)
    assert list(tmp_path.iterdir()) == []


def test_a_batch_outside_the_range_is_refused() -> None:
    project = layer_project("ReLU")
    for batch in (0, -2, 5000):
        with pytest.raises(CodegenError, match=f"batch of {batch} is not possible: choose 1 to 4096"):
            litert_bytes(project, seeded_model(project), batch)


# ----- the runner -----
def test_the_runner_takes_inputs_in_order_or_by_name_and_names_a_wrong_shape(converted: dict) -> None:
    _, model, data = converted["mlp"]
    x = np.random.default_rng(0).standard_normal((1, 2)).astype(np.float32)
    run = load_litert(data)
    assert np.array_equal(run([x])[0], run({"point": x})[0])
    assert relative_difference(run([x]), pytorch_outputs(model, [torch.from_numpy(x)])) <= TOLERANCE
    with pytest.raises(ValueError, match=r"input 'point' has shape \(3, 2\); the model takes \(1, 2\) \(its batch is static\)"):
        run([np.zeros((3, 2), np.float32)])
    with pytest.raises(ValueError, match=r"the model takes 1 inputs \(point\); 2 given"):
        run([x, x])


# ----- the command line and the export -----
def test_cli_writes_a_tflite_at_the_batch_asked_for_that_runs_as_pytorch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = ROOT / "assets" / "examples" / "digits_cnn.lstudio"
    out = tmp_path / "digits.tflite"
    assert main(["export", str(source), "--to", "litert", "--batch", "3", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.tflite"]
    project = example(source)
    xs = random_inputs(project.graph, 3)
    got = run_litert(out, [x.numpy() for x in xs])
    assert got[0].shape[0] == 3
    assert relative_difference(got, pytorch_outputs(seeded_model(project), xs)) <= TOLERANCE


def test_cli_refuses_batch_for_other_targets_and_a_batch_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = str(ROOT / "assets" / "examples" / "mlp.lstudio")
    assert main(["export", source, "--to", "onnx", "--batch", "3", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "--batch applies to --to litert, not --to onnx" in capsys.readouterr().err
    assert main(["export", source, "--to", "litert", "--batch", "0", "-o", str(tmp_path / "m.tflite")]) == 2
    assert "--batch 0 is not possible: choose 1 to 4096" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_export_tells_its_steps(tmp_path: Path) -> None:
    heard: list[str] = []

    class Recorder:
        def step(self, text: str) -> None:
            heard.append(text)

        def writing(self, text: str) -> None:
            heard.append(text)

    source = ROOT / "assets" / "examples" / "mlp.lstudio"
    export_project(example(source), "litert", tmp_path / "mlp.tflite", progress=Recorder())
    assert heard[-3:] == ["converting to LiteRT (litert-torch)", "checking the LiteRT model: built-in operators only, one run", "writing mlp.tflite"]


def test_the_module_imports_no_torch_and_no_litert() -> None:
    code = "import sys, studio.codegen.litert; print(sorted(m for m in ('torch', 'litert_torch', 'ai_edge_litert', 'tensorflow') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


# ----- the converter in a child process -----
def _crash(sender: Any, model: Any, inputs: Any) -> None:
    faulthandler.disable()  # pytest's would print the child's stack
    os.kill(os.getpid(), signal.SIGSEGV)


def _hang(sender: Any, model: Any, inputs: Any) -> None:
    time.sleep(60)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="the conversion runs in a forked child only where the platform forks")
def test_a_converter_crash_is_a_refusal_and_a_cancel_stops_the_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    project = layer_project("ReLU")
    model = seeded_model(project)
    monkeypatch.setattr(litert, "_convert_in_child", _crash)
    with pytest.raises(CodegenError, match=r"litert-torch crashed converting 'ReLU test' \(signal SIGSEGV\)"):
        litert_bytes(project, model)
    monkeypatch.setattr(litert, "_convert_in_child", _hang)
    heard: list[str] = []

    def cancel_on_the_third_step(text: str) -> None:
        heard.append(text)
        if len(heard) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        litert_bytes(project, model, step=cancel_on_the_third_step)
    assert heard == ["converting to LiteRT (litert-torch)"] * 3
    assert multiprocessing.active_children() == []
