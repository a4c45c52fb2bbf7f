"""`layer-studio import`: a model becomes a project with its weights; check and export then work on it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from studio.cli import main
from studio.codegen.export import build_torch_model
from tests.interop import onnx_models as om


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_writes_a_project_that_checks_and_exports_with_the_weights(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = om.save(om.padded_convolutions(), tmp_path / "convs.onnx")
    project = tmp_path / "p.lstudio"
    code, out, err = run(capsys, "import", str(source), "-o", str(project))
    assert code == 0, err
    assert f"wrote {project}" in out and "p.weights.npz" in out
    assert (tmp_path / "p.weights.npz").is_file()
    code, out, err = run(capsys, "check", str(project))
    assert code == 0, err
    assert "the network is valid" in out
    code, out, err = run(
        capsys,
        "export",
        str(project),
        "--to",
        "pytorch",
        "-o",
        str(tmp_path / "model.py"),
    )
    assert code == 0, err
    model = build_torch_model(
        (tmp_path / "model.py").read_text(), seed=5
    )  # the seed must not matter
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    x = torch.randn(3, 3, 9, 9, generator=torch.Generator().manual_seed(2))
    expected = ort.InferenceSession(
        str(source), providers=["CPUExecutionProvider"]
    ).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_unsupported_operators_exit_1_listing_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nodes = [
        om.node("Acosh", ["x"], ["c"], "wave"),
        om.node("Atanh", ["c"], ["s"], "other_wave"),
        om.node("Acosh", ["s"], ["y"], "again"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    proto = helper.make_model(
        helper.make_graph(nodes, "waves", [x], [y]),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    code, out, err = run(
        capsys,
        "import",
        str(om.save(proto, tmp_path / "waves.onnx")),
        "-o",
        str(tmp_path / "w.lstudio"),
    )
    assert code == 1 and out == ""
    assert "2 operators with no Layer Studio mapping" in err
    assert (
        "Acosh: 2 nodes, first 'wave'" in err and "Atanh: 1 node, first 'other_wave'" in err
    )
    assert not (tmp_path / "w.lstudio").exists()


def test_garbage_exits_2_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(2048))
    code, out, err = run(
        capsys, "import", str(garbage), "-o", str(tmp_path / "g.lstudio")
    )
    assert code == 2 and out == ""
    assert "garbage.onnx" in err and "Traceback" not in err
    code, _, err = run(
        capsys, "import", str(tmp_path / "model.h5"), "-o", str(tmp_path / "g.lstudio")
    )
    assert code == 2 and "choose one of" in err


def test_an_unwritable_output_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = om.save(om.sum_of_three(), tmp_path / "three.onnx")
    code, _, err = run(
        capsys,
        "import",
        str(source),
        "-o",
        str(tmp_path / "no" / "such" / "folder" / "p.lstudio"),
    )
    assert code == 2 and "does not exist" in err
