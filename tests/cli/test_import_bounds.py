"""Hostile imports and graphs through the command line: bad ONNX external-data fields, Caffe blobs that do not fit, a huge cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from studio.graph.model import Graph
from studio.graph.project import Project, save_project
from studio.interop.caffe_import import import_caffe
from tests.interop.caffemodels import layer, rand

ROOT = Path(__file__).resolve().parents[2]


def studio(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`layer-studio ARGS` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def refused_in_one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


# ----- ONNX external data -----
def external_model(folder: Path, fields: dict[str, str], data: bytes = b"\x00" * 16) -> Path:
    """An Add of x and a 4-float tensor 'w' kept in weights.bin with these external-data fields."""
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in {"location": "weights.bin", **fields}.items():
        weight.external_data.add(key=key, value=value)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"], name="add")], "ext", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    (folder / "weights.bin").write_bytes(data)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"offset": "abc"}, ("'w'", "'offset'", "'abc'", "whole number of bytes")),
        ({"length": "1e3"}, ("'w'", "'length'", "'1e3'", "whole number of bytes")),
        ({"offset": "-4"}, ("'w'", "'offset'", "'-4'", "0 or more")),
        ({"offset": "9" * 40}, ("'w'", "'offset'", "whole number of bytes")),
        ({"offset": "64"}, ("'w'", "'offset'", "past the end of 'weights.bin'", "16 bytes")),
        ({"length": "8"}, ("'w'", "'length'", "needs exactly 16 bytes")),
        ({"offset": "8"}, ("'w'", "needs bytes 8 to 24", "truncated or mismatched")),
    ],
)
def test_bad_external_data_fields_are_refused_naming_the_field(tmp_path: Path, fields: dict[str, str], words: tuple[str, ...]) -> None:
    model = external_model(tmp_path, fields)
    out = tmp_path / "out.lstudio"
    refused_in_one_line(studio("import", model, "-o", out, cwd=ROOT), "model.onnx", *words)
    assert not out.exists()


def test_valid_external_data_fields_still_import(tmp_path: Path) -> None:
    values = np.arange(4, dtype="<f4")
    model = external_model(tmp_path, {"offset": "4", "length": "16"}, b"pad!" + values.tobytes())
    result = studio("import", model, "-o", tmp_path / "out.lstudio", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.lstudio").is_file()


# ----- Caffe: a transposed InnerProduct's blobs -----
FC_NET = """input: "x" input_shape { dim: 1 dim: 3 dim: 2 dim: 2 }
layer { name: "fc" type: "InnerProduct" bottom: "x" top: "fc" inner_product_param { num_output: 5 transpose: true } }
"""


@pytest.mark.parametrize(
    ("blobs", "words"),
    [
        ([rand(60)], ("'fc'", "blob 0 (weight)", "(60,)", "needs (12, 5)")),
        ([rand(2, 3, 2, 5)], ("'fc'", "blob 0 (weight)", "(2, 3, 2, 5)", "needs (12, 5)")),
        ([rand(5, 12)], ("'fc'", "blob 0 (weight)", "(5, 12)", "needs (12, 5)")),
        ([rand(12, 5), rand(7)], ("'fc'", "bias", "7 values", "(5,)")),
    ],
)
def test_a_transposed_inner_product_blob_that_does_not_fit_is_refused(
    tmp_path: Path, blobs: list[np.ndarray], words: tuple[str, ...]
) -> None:
    (tmp_path / "fc.prototxt").write_text(FC_NET)
    (tmp_path / "fc.caffemodel").write_bytes(layer("fc", blobs))
    out = tmp_path / "out.lstudio"
    refused_in_one_line(studio("import", tmp_path / "fc.prototxt", "-o", out, cwd=ROOT), "fc.caffemodel", *words)
    assert not out.exists()


def test_a_legacy_4d_transposed_blob_computes_what_caffe_computes(tmp_path: Path) -> None:
    weight, bias = rand(12, 5), rand(5, seed=1)  # Caffe's (inputs, outputs) when transposed
    (tmp_path / "fc.prototxt").write_text(FC_NET)
    (tmp_path / "fc.caffemodel").write_bytes(layer("fc", [weight.reshape(1, 1, 12, 5), bias], legacy=True))
    state = import_caffe(tmp_path / "fc.prototxt").state
    got_w = next(v for k, v in state.items() if k.endswith("/weight"))
    got_b = next(v for k, v in state.items() if k.endswith("/bias"))
    x = rand(2, 3, 2, 2, seed=2)
    ours = F.linear(torch.from_numpy(x.reshape(2, -1)), torch.from_numpy(got_w), torch.from_numpy(got_b)).numpy()
    np.testing.assert_allclose(ours, x.reshape(2, -1) @ weight + bias, rtol=1e-5, atol=1e-5)


# ----- a cycle is one problem -----
def test_a_5000_node_cycle_is_checked_as_one_bounded_problem(tmp_path: Path) -> None:
    n = 5000
    graph = Graph()
    graph.add_node("Input", "x", {"shape": (4,)})
    ring = [graph.add_node("Identity", f"layer_{i}") for i in range(n)]
    for a, b in zip(ring, ring[1:] + ring[:1]):
        graph.connect(a.id, "out", b.id, "in")
    graph.connect(ring[-1].id, "out", graph.add_node("Output", "o").id, "in")
    path = tmp_path / "ring.lstudio"
    save_project(Project("ring", graph), path)
    result = studio("check", path, cwd=ROOT)
    assert "Traceback" not in result.stderr and result.returncode == 1, result.stderr
    cycle_lines = [line for line in result.stderr.splitlines() if "cycle" in line]
    assert len(cycle_lines) == 1, cycle_lines[:3]
    line = cycle_lines[0]
    assert "'layer_0' → 'layer_1'" in line and "'layer_19' → … 4,980 more → 'layer_0'" in line
    assert "'layer_20'" not in line and len(line) < 700
    assert len(result.stderr) < 5_000
    assert len(result.stdout) < 100 * (n + 50), "the summary table grows by one line per layer, no more"
