"""`layer-studio export`: files written with seeded weights, clear failures, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.cli import main
from studio.graph import Graph
from studio.graph.project import Project, save_project
from tests.codegen.helpers import load_module

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "assets" / "examples" / "lenet5.lstudio"


def _export(capsys, tmp_path: Path, *extra: str, name: str = "model.py", source: Path = LENET) -> tuple[int, str, Path]:
    out = tmp_path / name
    code = main(["export", str(source), "--to", "pytorch", "-o", str(out), *extra])
    return code, capsys.readouterr().err, out


def test_export_writes_code_and_loadable_weights(tmp_path: Path, capsys) -> None:
    code, err, out = _export(capsys, tmp_path)
    assert code == 0, err
    weights = out.with_suffix(".pt")
    model = load_module(out).build_model(str(weights))
    saved = torch.load(weights, weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key])
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_the_same_seed_gives_the_same_weights(tmp_path: Path, capsys) -> None:
    states = []
    for folder, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        (tmp_path / folder).mkdir()
        code, err, out = _export(capsys, tmp_path / folder, "--seed", seed)
        assert code == 0, err
        states.append(torch.load(out.with_suffix(".pt"), weights_only=True))
    same = all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    differ = any(not torch.equal(states[0][k], states[2][k]) for k in states[0])
    assert same and differ


def test_a_graph_with_errors_exits_1_and_writes_nothing(tmp_path: Path, capsys) -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": [16, 5, 5]})
    fc = graph.add_node("Linear", "fc1")
    graph.connect(x.id, "out", fc.id, "in")
    graph.connect(fc.id, "out", graph.add_node("Output", "y").id, "in")
    broken = tmp_path / "broken.lstudio"
    save_project(Project(name="broken", graph=graph), broken)
    code, err, _out = _export(capsys, tmp_path, source=broken)
    assert code == 1
    assert "fc1" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.lstudio"]


@pytest.mark.parametrize("where", ["missing-folder", "is-a-folder"])
def test_an_unwritable_output_exits_2_and_leaves_nothing(tmp_path: Path, capsys, where: str) -> None:
    if where == "is-a-folder":
        (tmp_path / "model.py").mkdir()
        code, err, _ = _export(capsys, tmp_path)
    else:
        code, err, _ = _export(capsys, tmp_path, name="nowhere/model.py")
    assert code == 2
    assert "cannot be written" in err
    assert [p.name for p in tmp_path.iterdir()] == (["model.py"] if where == "is-a-folder" else [])


def test_an_unreadable_project_exits_2(tmp_path: Path, capsys) -> None:
    code, err, _ = _export(capsys, tmp_path, source=tmp_path / "absent.lstudio")
    assert code == 2 and "absent.lstudio" in err


def test_the_cli_offers_every_export_target() -> None:
    from studio.cli import EXPORT_TARGETS
    from studio.codegen.export import TARGETS

    assert EXPORT_TARGETS == TARGETS


@pytest.mark.parametrize(
    ("target", "names"), [("caffe", ["lenet.prototxt", "lenet.caffemodel"]), ("script", ["train.py", "train_data.npz"])]
)
def test_text_targets_write_their_files(tmp_path: Path, capsys, target: str, names: list[str]) -> None:
    out = tmp_path / names[0]
    code = main(["export", str(LENET), "--to", target, "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)  # a script gets its data beside it, a prototxt its weights
    assert "c1" in out.read_text()


def test_an_inexpressible_layer_exits_1_naming_it(tmp_path: Path, capsys) -> None:
    source = ROOT / "assets" / "examples" / "lstm_classifier.lstudio"
    code = main(["export", str(source), "--to", "caffe", "-o", str(tmp_path / "x.prototxt")])
    err = capsys.readouterr().err
    assert code == 1 and "lstm" in err and "LSTM" in err
    assert list(tmp_path.iterdir()) == []


def test_keras_export_holds_the_same_numbers_as_the_pytorch_export(tmp_path: Path, capsys) -> None:
    code, err, torch_out = _export(capsys, tmp_path, "--seed", "3")
    assert code == 0, err
    keras_out = tmp_path / "model_keras.py"
    code = main(["export", str(LENET), "--to", "keras", "-o", str(keras_out), "--seed", "3"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "model_keras.weights.h5").exists()
    x = torch.rand(2, 1, 28, 28)
    expected = load_module(torch_out).build_model(str(torch_out.with_suffix(".pt")))(x).detach()
    keras_model = load_module(keras_out).build_model(str(tmp_path / "model_keras.weights.h5"))
    got = torch.as_tensor(keras_model(x.numpy(), training=False).detach().cpu().numpy())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_onnx_export_runs_in_onnx_runtime_like_the_pytorch_export(tmp_path: Path, capsys) -> None:
    import onnxruntime

    code, err, torch_out = _export(capsys, tmp_path, "--seed", "5")
    assert code == 0, err
    onnx_out = tmp_path / "model.onnx"
    assert main(["export", str(LENET), "--to", "onnx", "-o", str(onnx_out), "--seed", "5"]) == 0
    x = torch.rand(4, 1, 28, 28)
    expected = load_module(torch_out).build_model(str(torch_out.with_suffix(".pt")))(x).detach()
    session = onnxruntime.InferenceSession(str(onnx_out), providers=["CPUExecutionProvider"])
    [got] = session.run(None, {"image": x.numpy()})
    torch.testing.assert_close(torch.as_tensor(got), expected, rtol=1e-4, atol=1e-5)


def test_given_weights_are_exported_instead_of_seeded_ones(tmp_path: Path, capsys) -> None:
    trained = {k: torch.randn_like(v) for k, v in torch.load(_export(capsys, tmp_path)[2].with_suffix(".pt")).items()}
    torch.save({"model": trained, "epoch": 3}, tmp_path / "last.pt")  # a training checkpoint
    (tmp_path / "out").mkdir()
    code, err, out = _export(capsys, tmp_path / "out", "--weights", str(tmp_path / "last.pt"))
    assert code == 0, err
    exported = torch.load(out.with_suffix(".pt"), weights_only=True)
    assert all(torch.equal(exported[k], trained[k]) for k in trained)


@pytest.mark.parametrize("problem", ["garbage", "wrong-network", "not-a-dict"])
def test_weights_that_do_not_fit_exit_2_with_the_reason(tmp_path: Path, capsys, problem: str) -> None:
    weights = tmp_path / "w.pt"
    if problem == "garbage":
        weights.write_bytes(b"not a checkpoint")
    elif problem == "wrong-network":
        torch.save({"c1.weight": torch.zeros(3, 3), "extra": torch.zeros(1)}, weights)
    else:
        torch.save([1, 2, 3], weights)
    (tmp_path / "out").mkdir()
    code, err, _ = _export(capsys, tmp_path / "out", "--weights", str(weights))
    assert code == 2 and "w.pt" in err and "Traceback" not in err
    if problem == "wrong-network":
        assert "missing" in err and "unexpected extra" in err and "wrong shape for c1.weight" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_npz_weights_round_trip_without_pickle(tmp_path):
    import numpy as np
    import torch

    from studio.codegen.export import (
        WeightsError,
        build_torch_model,
        load_weights,
        save_npz_weights,
    )
    from studio.codegen.pytorch import generate_pytorch, module_names
    from studio.graph.project import load_project

    project = load_project(ROOT / "assets" / "examples" / "resnet_small.lstudio")
    source = generate_pytorch(project)
    trained = build_torch_model(source, seed=7)
    save_npz_weights(trained.state_dict(), tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as archive:
        names = set(module_names(project).values())
        assert all(key.split(".")[0] in names for key in archive.files)
    fresh = build_torch_model(source, seed=8)
    load_weights(fresh, tmp_path / "w.npz")
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values(), strict=True))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(WeightsError, match="bad.npz"):
        load_weights(fresh, tmp_path / "bad.npz")
