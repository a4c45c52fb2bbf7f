"""Every example's ONNX export, at the default opset and the oldest, in the tools users load it with: OpenVINO and onnx2torch.

Beside the examples, the layers whose ONNX form was chosen for one of these tools (LAYERS). Each
file is written with random weights, and each tool runs all files in one child process
(`onnx_tool_runs`; both tools at once); its outputs must match the PyTorch model's within 1e-4
relative to the largest output. What a tool cannot read is listed in REFUSED with the reason and
a piece of its message, what it reads but computes otherwise in WRONG, so a tool that starts
reading a file, or fails on one for a new reason, fails the test. ONNX Runtime's parity is
`test_onnx.py`'s and `test_onnx_opsets.py`'s; `benchmarks/onnx_tools.py` sweeps every layer.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.codegen.onnx_export import DEFAULT_OPSET, MIN_OPSET, onnx_bytes
from studio.codegen.onnx_runtimes import OnnxRunError, run_onnxruntime, run_openvino
from studio.graph.project import Project
from tests.codegen.cases import EXAMPLES, example, layer_project, random_inputs
from tests.codegen.onnx_checks import randomized
from tests.codegen.onnx_tool_runs import TOOLS

ROOT = Path(__file__).resolve().parents[2]
OPSETS = (DEFAULT_OPSET, MIN_OPSET)
RUN_BATCH = 3
TOLERANCE = 1e-4
PACKAGES = {"openvino": "openvino", "onnx2torch": "onnx2torch"}

# Layers whose ONNX form was chosen for a tool (and one a tool gets wrong), beside the examples: name -> (type, params, shapes)
LAYERS = {
    "logsumexp": ("LogSumExp", {}, None),  # below 18 its arithmetic: OpenVINO reads ReduceLogSumExp's axes attribute as none
    "l1_norm": ("Norm", {"dims": (2, 3), "p": 1.0}, None),  # likewise ReduceL1's
    "l1_normalize": ("Normalize", {"dim": -1, "p": 1.0}, [(6, 8)]),
    "cumsum": ("Cumsum", {}, None),  # `reverse` 0 written out: onnx2torch reads none as 1
    "clip_below": ("Clip", {"min": (), "max": (0.5,)}, None),  # the open min -inf: onnx2torch refuses an empty input name
    "resize_nearest_exact": ("Resize", {"scale_factor": (2.5,), "mode": "nearest-exact"}, [(3, 5)]),
}
NAMES = [f"example-{path.stem}" for path in EXAMPLES] + [f"layer-{name}" for name in LAYERS]

# (tool, name) -> (why the tool cannot read it, a piece of the tool's message), at every opset tested
REFUSED = {
    ("onnx2torch", "example-lstm_classifier"): (
        "onnx2torch has no converter for ONNX's LSTM operator (nor GRU, RNN) at any opset",
        "operation_type='LSTM'",
    ),
    ("onnx2torch", "example-conv_autoencoder"): (
        (
            "the layer named `code`: onnx2torch names each torch submodule after its ONNX node, and "
            "torch.fx.GraphModule.code (the module's source text) shadows it, so calling it fails"
        ),
        "'str' object is not callable",
    ),
}
# (tool, name) -> why the tool reads the file but computes other numbers, at every opset tested
WRONG = {
    ("onnx2torch", "layer-resize_nearest_exact"): "onnx2torch runs every nearest Resize as PyTorch's 'nearest' (floor, asymmetric)",
}
CASES = [(tool, name, opset) for tool in TOOLS for name in NAMES for opset in OPSETS]


def project_named(name: str) -> Project:
    kind, _, rest = name.partition("-")
    return example(ROOT / "assets" / "examples" / f"{rest}.lstudio") if kind == "example" else layer_project(*LAYERS[rest])


def relative_difference(got: list[np.ndarray], expected: list[np.ndarray]) -> float:
    """The largest difference of any output, relative to that output's largest magnitude."""
    assert len(got) == len(expected)
    return max(float(np.abs(g - e).max()) / max(float(np.abs(e).max()), 1e-12) for g, e in zip(got, expected, strict=True))


@dataclass(frozen=True)
class Runs:
    """The cases' folder, PyTorch's outputs per case, and per tool installed each case's error (None: it ran)."""

    folder: Path
    expected: dict[str, list[np.ndarray]]
    errors: dict[str, dict[str, str | None]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Write every case, then run each installed tool over them all in a child process of its own, both at once."""
    folder = tmp_path_factory.mktemp("onnx_tools")
    expected: dict[str, list[np.ndarray]] = {}
    for name in NAMES:
        project = project_named(name)
        model = randomized(project)
        xs = random_inputs(project.graph, RUN_BATCH)
        with torch.no_grad():
            ys = model(*xs)
        ys = ys if isinstance(ys, tuple) else (ys,)
        for opset in OPSETS:
            case = f"{name}.{opset}"
            (folder / f"{case}.onnx").write_bytes(onnx_bytes(project, model, opset=opset))
            np.savez(folder / f"{case}.in.npz", **{f"x{i}": x.numpy() for i, x in enumerate(xs)})
            expected[case] = [y.numpy() for y in ys]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = {
        tool: subprocess.Popen([sys.executable, "-m", "tests.codegen.onnx_tool_runs", tool, str(folder)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tool in TOOLS
        if importlib.util.find_spec(PACKAGES[tool]) is not None
    }
    errors = {}
    for tool, child in children.items():
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, f"{tool}'s child process failed:\n{err[-3000:]}"
        errors[tool] = json.loads(out.strip().splitlines()[-1])
    return Runs(folder, expected, errors)


@pytest.mark.parametrize(("tool", "name", "opset"), CASES, ids=[f"{t}-{n}-{o}" for t, n, o in CASES])
def test_the_tool_reads_the_example_and_matches_torch_or_is_a_listed_refusal(runs: Runs, tool: str, name: str, opset: int) -> None:
    if tool not in runs.errors:
        pytest.skip(f"{PACKAGES[tool]} is not installed (pip install '.[deploy]')")
    case = f"{name}.{opset}"
    error = runs.errors[tool][case]
    if (tool, name) in REFUSED:
        why, message = REFUSED[(tool, name)]
        assert error is not None, f"{tool} now reads {case}: drop its row from REFUSED ({why})"
        assert message in error, f"{tool} refuses {case} for another reason than listed ({why}): {error}"
        return
    assert error is None, f"{tool} cannot read {case}: {error}"
    stored = np.load(runs.folder / f"{case}.{tool}.npz")
    got = [stored[f"y{i}"] for i in range(len(stored.files))]
    if (tool, name) in WRONG:
        assert relative_difference(got, runs.expected[case]) > TOLERANCE, f"{tool} now computes {case}: drop its row from WRONG"
        return
    assert relative_difference(got, runs.expected[case]) <= TOLERANCE


def test_the_refusals_name_only_cases_and_tools_that_exist() -> None:
    assert {tool for tool, _ in (*REFUSED, *WRONG)} <= set(TOOLS)
    assert {name for _, name in (*REFUSED, *WRONG)} <= set(NAMES)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino is not installed")
def test_run_openvino_takes_inputs_by_order_or_name_and_matches_onnx_runtime(tmp_path: Path) -> None:
    project = example(ROOT / "assets" / "examples" / "inception_block.lstudio")
    path = tmp_path / "inception.onnx"
    path.write_bytes(onnx_bytes(project, randomized(project)))
    (x,) = (t.numpy() for t in random_inputs(project.graph, 2))
    reference = run_onnxruntime(path, [x])
    assert relative_difference(run_openvino(path, [x]), reference) <= TOLERANCE
    assert relative_difference(run_openvino(path, {"image": x}), reference) <= TOLERANCE
    with pytest.raises(OnnxRunError, match="inception.onnx takes 1 inputs \\(image\\), not 2"):
        run_openvino(path, [x, x])
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(OnnxRunError, match='^OpenVINO cannot read broken.onnx: Unable to read the model: "'):
        run_openvino(tmp_path / "broken.onnx", [x])
    circular = layer_project("Pad", {"padding": (1, 2), "mode": "circular"}, [(6, 8)])
    (tmp_path / "wrap.onnx").write_bytes(onnx_bytes(circular, randomized(circular), opset=19))  # Pad's wrap; Slice and Concat before 19
    with pytest.raises(OnnxRunError, match=r"^OpenVINO cannot read wrap.onnx: Unsupported padding mode: \[wrap\]$"):
        run_openvino(tmp_path / "wrap.onnx", [np.zeros((1, 6, 8), np.float32)])
