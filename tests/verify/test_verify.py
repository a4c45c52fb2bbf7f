"""`layer-studio verify`: an export run in its runtime and compared with PyTorch, and every way it can fail, named."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from studio.cli import main
from studio.codegen.export import export_project
from studio.graph.project import load_project
from studio.verify.check import TOLERANCE, VerifyError, _compare, verify_export
from tests.codegen.cases import single_layer

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "assets" / "examples" / "lenet5.lstudio"
LSTM = ROOT / "assets" / "examples" / "lstm_classifier.lstudio"


@pytest.fixture(scope="module")
def lenet_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """LeNet-5 exported once to ONNX, Keras and PyTorch from its seeded start, and to ONNX from another seed."""
    folder = tmp_path_factory.mktemp("lenet")
    project = load_project(LENET)
    files = {"onnx": folder / "lenet.onnx", "keras": folder / "lenet_keras.py", "pytorch": folder / "lenet.py", "script": folder / "train.py"}
    for target, path in files.items():
        export_project(project, target, path, project_path=LENET)
    files["reseeded"] = folder / "reseeded.onnx"
    export_project(project, "onnx", files["reseeded"], seed=7)
    return files


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_onnx_export_matches_in_onnx_runtime_on_the_projects_data(capsys, lenet_exports) -> None:
    code, out, err = run(capsys, "verify", str(lenet_exports["onnx"]), str(LENET), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] and result["runtime"] == "onnxruntime" and result["max_rel"] <= TOLERANCE
    assert result["inputs"].startswith("the project's data") and result["samples"] == 8
    assert result["seconds_per_sample"] > 0 and result["size_bytes"] == lenet_exports["onnx"].stat().st_size


def test_a_file_made_from_other_numbers_is_reported_as_different(capsys, lenet_exports) -> None:
    code, out, _ = run(capsys, "verify", str(lenet_exports["reseeded"]), str(LENET))
    assert code == 1
    assert "DIFFERS from PyTorch" in out
    code, out, _ = run(capsys, "verify", str(lenet_exports["reseeded"]), str(LENET), "--seed", "7")
    assert code == 0 and "matches PyTorch" in out


@pytest.mark.parametrize("runtime", ["openvino", "opencv"])
def test_the_onnx_file_runs_in_the_other_onnx_runtimes(runtime: str, lenet_exports) -> None:
    result = verify_export(lenet_exports["onnx"], load_project(LENET), LENET, runtime=runtime, samples=3)
    assert result.ok, result.lines()
    assert result.samples == 3 and result.runtime == runtime


def test_keras_runs_on_the_backend_asked_for(lenet_exports) -> None:
    result = verify_export(lenet_exports["keras"], load_project(LENET), LENET, backend="jax", samples=2)
    assert result.ok and result.backend == "jax" and result.runtime_label == "Keras on jax"
    assert result.size_bytes > lenet_exports["keras"].stat().st_size  # the .weights.h5 counts


def test_random_input_stands_in_for_a_project_without_data(lenet_exports) -> None:
    project = load_project(LENET)
    project.training = dataclasses.replace(project.training, dataset=str(ROOT / "no-such-data.csv"))
    result = verify_export(lenet_exports["pytorch"], project, LENET, samples=2)
    assert result.ok and result.inputs_from == "random input" and result.max_abs == 0.0


def test_mistakes_are_named(capsys, lenet_exports, tmp_path: Path) -> None:
    cases = [
        ([str(tmp_path / "missing.onnx"), str(LENET)], "no such file"),
        ([str(lenet_exports["script"]), str(LENET)], "a training script"),
        ([str(lenet_exports["onnx"]), str(LENET), "--runtime", "litert"], "LiteRT does not read onnx files"),
        ([str(lenet_exports["onnx"]), str(LSTM)], "ONNX Runtime failed running lenet.onnx: [ONNXRuntimeError]"),
    ]
    lonely = tmp_path / "lonely.py"
    lonely.write_text(lenet_exports["pytorch"].read_text())
    cases.append(([str(lonely), str(LENET)], "lonely.pt are not beside it"))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    cases.append(([str(broken), str(LENET)], "ONNX Runtime cannot read broken.onnx"))
    for args, message in cases:
        code, _, err = run(capsys, "verify", *args)
        assert code == 2 and message in err, (args, err)
        assert "Traceback" not in err


def test_compare_counts_a_nan_where_pytorch_has_a_number_as_a_mismatch() -> None:
    want = [np.array([[1.0, np.nan, 2.0]], dtype=np.float32)]
    assert _compare(Path("m.onnx"), want, [want[0].copy()]) == (0.0, 0.0)
    _, rel = _compare(Path("m.onnx"), want, [np.array([[np.nan, np.nan, 2.0]], dtype=np.float32)])
    assert rel == float("inf")
    with pytest.raises(VerifyError, match="shape"):
        _compare(Path("m.onnx"), want, [np.zeros((2, 2), dtype=np.float32)])


def test_a_caffe_export_is_fed_as_its_header_says_and_a_litert_export_in_chunks_of_its_batch(tmp_path: Path) -> None:
    project = single_layer("Conv2d", {"out_channels": 4}, [(3, 6, 6)])
    source = next(n for n in project.graph.nodes.values() if n.type == "Input")
    source.params.update(mean=(0.1, 0.2, 0.3), std=(0.5, 1.0, 2.0))  # per channel: the caller standardizes for Caffe
    export_project(project, "caffe", tmp_path / "net.prototxt")
    assert verify_export(tmp_path / "net.prototxt", project, samples=3).ok
    export_project(project, "litert", tmp_path / "net.tflite", batch=2)
    result = verify_export(tmp_path / "net.tflite", project, samples=3)  # two runs, the second padded
    assert result.ok and result.samples == 3 and result.runtime_label == "LiteRT"


def test_verify_runs_a_caffe_export_through_the_one_opencv_caffe_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.codegen import caffe_opencv
    from studio.verify import runtimes

    project = single_layer("Conv2d", {"out_channels": 4}, [(3, 6, 6)])
    export_project(project, "caffe", tmp_path / "net.prototxt")
    loaded = []
    real = caffe_opencv.load_opencv_caffe
    monkeypatch.setattr(caffe_opencv, "load_opencv_caffe", lambda *args: loaded.append(args) or real(*args))
    (got,) = runtimes._opencv(tmp_path / "net.prototxt", tmp_path / "net.caffemodel")([np.ones((2, 3, 6, 6), dtype=np.float32)])
    assert got.shape == (2, 4, 4, 4) and [args[:2] for args in loaded] == [(tmp_path / "net.prototxt", tmp_path / "net.caffemodel")]
    (tmp_path / "net.caffemodel").write_bytes(b"not a caffemodel")
    with pytest.raises(runtimes.RuntimeUnavailable, match=r"net.prototxt, .*net.caffemodel: OpenCV cannot read them"):
        runtimes._opencv(tmp_path / "net.prototxt", tmp_path / "net.caffemodel")
