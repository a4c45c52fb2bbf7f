"""The Caffe export's .caffemodel: OpenCV's Caffe reader runs prototxt + weights as PyTorch does, and the import reads them back.

OpenCV 4's dnn is the one maintained runtime of Caffe files (OpenCV 5 dropped the reader). The
layers it cannot run are pinned below, with the reason it gives, so a change in either shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.cli import main
from studio.codegen.caffe import plan_caffe
from studio.codegen.caffe_opencv import OpenCVRunError, run_opencv_caffe
from studio.codegen.caffe_weights import blob_proto, varint
from studio.codegen.export import export_project
from studio.codegen.names import CodegenError
from studio.graph import CATALOGUE, Graph
from studio.graph.catalogue.base import Unsupported
from studio.graph.flatten import flat_project
from studio.graph.project import Project, load_project, trained_weights
from studio.graph.weights_file import declared_node_state, node_key
from studio.interop.caffemodel import _blob, read_caffemodel
from tests.codegen.cases import (
    CAFFE_VARIANTS,
    EXAMPLES,
    random_inputs,
    seeded_model,
    single_layer,
)

pytest.importorskip("cv2")

TOLERANCE = 1e-4  # largest difference relative to the largest PyTorch output
EXPRESSIBLE = {"digits_cnn", "inception_block", "lenet5", "mlp", "resnet18_blocks", "resnet_small"}
"""The examples the Caffe export writes; the others hold a layer or a value Caffe lacks (test_caffe.py)."""

LACKS_CLIP, LACKS_REDUCTION, LACKS_TILE = 'type "Clip"', 'type "Reduction"', "Tile: repeats"
OPENCV_CANNOT = {
    "ArgMax": 'type "ArgMax"', "ArgMin": 'type "ArgMax"', "Clip": LACKS_CLIP, "Hardsigmoid": LACKS_CLIP, "Hardtanh": LACKS_CLIP,
    "ReLU6": LACKS_CLIP, "Softshrink": LACKS_CLIP, "Hardshrink": 'type "Threshold"', "Threshold": 'type "Threshold"',
    "Embedding": 'type "Embed"', "PositionalEncoding": 'type "Bias"', "Expand": LACKS_TILE, "Repeat": LACKS_TILE,
    "Norm": LACKS_REDUCTION, "ReduceMean": LACKS_REDUCTION, "ReduceSum": LACKS_REDUCTION,
    "ConvTranspose1d": "inputs[0].dims == outputs[0].dims", "ConvTranspose3d": "unsupported on OpenCV backend",
    "BatchNorm2d-10": "training mode with batch size > 1",  # no running statistics: normalized with the batch's
}  # fmt: skip
"""OpenCV 4.13 lacks these BVLC layer types (Clip, Reduction, ...) or their forms; keyed by layer type, or by the sweep's id for one variant."""

SUPPORTED = sorted(t for t, s in CATALOGUE.items() if not isinstance(s.targets["caffe"], Unsupported) and t not in ("Input", "Output"))
CASES = [pytest.param(t, {}, None, id=t) for t in SUPPORTED] + [
    pytest.param(*v, id=f"{v[0]}-{i}") for i, v in enumerate(CAFFE_VARIANTS)
]


def export_caffe(project: Project, folder: Path) -> tuple[Path, Path]:
    result = export_project(project, "caffe", folder / "net.prototxt")
    assert [p.name for p in result.files] == ["net.prototxt", "net.caffemodel"]
    return result.files[0], result.files[1]


def opencv_difference(project: Project, folder: Path, batch: int = 2) -> float:
    """The export run by OpenCV against the PyTorch export on the same weights and inputs: the largest relative difference."""
    prototxt, caffemodel = export_caffe(project, folder)
    xs = random_inputs(project.graph, batch)
    names = [n.name for n in project.graph.nodes.values() if n.type == "Input"]
    got = run_opencv_caffe(prototxt, caffemodel, {n: x.numpy() for n, x in zip(names, xs)}, plan_caffe(project).output_layers())
    with torch.no_grad():
        expected = seeded_model(project)(*xs)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    assert len(got) == len(expected)
    worst = 0.0
    for value, reference in zip(got, expected):
        reference = reference.numpy()
        assert value.shape == reference.shape
        worst = max(worst, float(np.abs(value - reference).max() / max(np.abs(reference).max(), 1e-12)))
    return worst


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_caffe_expresses_runs_in_opencv_as_in_pytorch(path: Path, tmp_path: Path) -> None:
    project = load_project(path)
    if path.stem not in EXPRESSIBLE:
        with pytest.raises(CodegenError, match="cannot be expressed there"):
            export_project(project, "caffe", tmp_path / "net.prototxt")
        assert list(tmp_path.iterdir()) == []
        return
    assert opencv_difference(project, tmp_path) < TOLERANCE


@pytest.mark.parametrize(("layer_type", "params", "shapes"), CASES)
def test_every_layer_runs_in_opencv_as_in_pytorch_or_is_a_pinned_gap(
    layer_type: str, params: dict, shapes: list | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    project = single_layer(layer_type, params, shapes)
    gap = OPENCV_CANNOT.get(request.node.callspec.id) or OPENCV_CANNOT.get(layer_type)
    if gap is None:
        assert opencv_difference(project, tmp_path) < TOLERANCE
        return
    with pytest.raises(OpenCVRunError) as err:
        opencv_difference(project, tmp_path)
    assert gap in str(err.value)


@pytest.mark.parametrize("name", sorted(EXPRESSIBLE))
def test_layer_studio_import_reads_the_weights_back(name: str, tmp_path: Path) -> None:
    project = load_project(next(p for p in EXAMPLES if p.stem == name))
    export = export_project(project, "caffe", tmp_path / "net.prototxt", seed=3)
    assert main(["import", str(export.files[0]), "-o", str(tmp_path / "back.lstudio")]) == 0
    back = load_project(tmp_path / "back.lstudio")
    weights_path = trained_weights(back, tmp_path / "back.lstudio")
    assert weights_path is not None
    with np.load(weights_path) as archive:
        imported = dict(archive)
    flat = flat_project(project)
    original = {
        node_key(node_id, key): value.detach().numpy()
        for node_id, values in _node_state(project, seeded_model(project, 3)).items()
        for key, value in values.items()
    }
    by_name = {node.name: node_id for node_id, node in back.graph.nodes.items()}
    compared = 0
    for node_id, tensors in declared_node_state(flat.graph).items():
        twin = by_name[flat.graph.nodes[node_id].name]
        for key in tensors:
            if key == "num_batches_tracked":
                continue
            np.testing.assert_array_equal(imported[node_key(twin, key)], original[node_key(node_id, key)], err_msg=key)
            compared += 1
    assert compared >= 4


def _node_state(project: Project, model: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    from studio.codegen.weights import by_node

    state: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in by_node(model.state_dict(), project).items():
        node_id, _, name = key.partition("/")
        state.setdefault(node_id, {})[name] = value
    return state


def test_blobs_no_runtime_here_runs_are_the_pytorch_tensors(tmp_path: Path) -> None:
    """Embed's table, Bias's position table (its first T rows) and a shared PReLU slope, read back by the importer's reader."""
    graph = Graph()
    tokens = graph.add_node("Input", "tokens", {"shape": (5,), "dtype": "int64"})
    embed = graph.add_node("Embedding", "embed", {"num_embeddings": 7, "embedding_dim": 4})
    where = graph.add_node("PositionalEncoding", "where", {"kind": "sinusoidal", "max_len": 9})
    slope = graph.add_node("PReLU", "slope", {"init": 0.3})
    out = graph.add_node("Output", "y")
    for a, b in ((tokens, embed), (embed, where), (where, slope), (slope, out)):
        graph.connect(a.id, "out", b.id, "in")
    project = Project(name="tables", graph=graph)
    _, caffemodel = export_caffe(project, tmp_path)
    blobs = read_caffemodel(caffemodel)
    model = seeded_model(project)
    assert sorted(blobs) == ["embed", "slope", "where"]
    np.testing.assert_array_equal(blobs["embed"][0], model.embed.weight.detach().numpy())
    assert blobs["where"][0].shape == (5, 4)
    np.testing.assert_array_equal(blobs["where"][0], model.where.table[:5].numpy())
    assert blobs["slope"][0].size == 1 and float(blobs["slope"][0].reshape(())) == pytest.approx(0.3)


def test_batch_norm_without_running_statistics_still_holds_its_three_blobs(tmp_path: Path) -> None:
    project = single_layer("BatchNorm2d", {"affine": False, "track_running_stats": False}, [(3, 4, 4)])
    _, caffemodel = export_caffe(project, tmp_path)
    mean, var, factor = read_caffemodel(caffemodel)["layer"]
    assert (mean == 0).all() and (var == 1).all() and factor.tolist() == [1.0]


def test_blob_encoding_reads_back_with_its_shape() -> None:
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.5
    np.testing.assert_array_equal(_blob(memoryview(blob_proto(values))), values)
    assert _blob(memoryview(blob_proto(np.float32(2.5)))).reshape(()) == 2.5  # no axes: the legacy 1 x 1 x 1 x 1
    assert [varint(v) for v in (0, 127, 128, 300)] == [b"\x00", b"\x7f", b"\x80\x01", b"\xac\x02"]


def test_a_caffemodel_output_name_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    project = load_project(next(p for p in EXAMPLES if p.stem == "mlp"))
    with pytest.raises(CodegenError, match=r"net\.caffemodel: the weights go to net\.caffemodel"):
        export_project(project, "caffe", tmp_path / "net.caffemodel")
    assert list(tmp_path.iterdir()) == []


def test_a_weights_file_of_the_project_is_what_the_caffemodel_holds(tmp_path: Path) -> None:
    project = load_project(next(p for p in EXAMPLES if p.stem == "mlp"))
    trained = seeded_model(project, 11)
    torch.save(trained.state_dict(), tmp_path / "trained.pt")
    export = export_project(project, "caffe", tmp_path / "net.prototxt", weights=tmp_path / "trained.pt")
    blobs = read_caffemodel(export.files[1])
    first = next(name for name, module in trained.named_modules() if isinstance(module, torch.nn.Linear))
    layer = plan_caffe(project).layers[[la.type for la in plan_caffe(project).layers].index("InnerProduct")].name
    np.testing.assert_array_equal(blobs[layer][0], trained.get_submodule(first).weight.detach().numpy())


def test_opencv_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "broken.prototxt").write_text("layer { name: \n")
    with pytest.raises(OpenCVRunError, match="broken.prototxt"):
        run_opencv_caffe(tmp_path / "broken.prototxt", tmp_path / "absent.caffemodel", {}, [("y", 0)])


HOSTILE = ['a"b', "back\\slash", "new\nline", 'layer { name: "x" }', "}\nlayer {", "名前", "\u202eevil", "# not a comment", "tab\there"]


def test_hostile_names_name_the_same_layers_in_both_files_and_in_opencv(tmp_path: Path) -> None:
    graph = Graph()
    previous = graph.add_node("Input", HOSTILE[0], {"shape": (4,)})
    for name in HOSTILE[1:]:
        node = graph.add_node("Linear", name, {"out_features": 4})
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    graph.connect(previous.id, "out", graph.add_node("Output", "out").id, "in")
    project = Project(name='net"\n}\nlayer {', graph=graph)
    _, caffemodel = export_caffe(project, tmp_path)
    assert sorted(read_caffemodel(caffemodel)) == sorted(HOSTILE[1:])
    assert opencv_difference(project, tmp_path) < TOLERANCE


@pytest.mark.parametrize(("mean", "std"), [((0.5,) * 3, (0.25,) * 3), ((0.1, 0.2, 0.3), (0.5, 1.0, 2.0))], ids=["one-value", "per-channel"])
def test_a_standardizing_input_runs_as_the_file_says(mean: tuple, std: tuple, tmp_path: Path) -> None:
    """One value for every channel: a Power layer in the net does it; per channel: the caller does, as the header says."""
    project = single_layer("Conv2d", {"out_channels": 4}, [(3, 6, 6)])
    source = next(n for n in project.graph.nodes.values() if n.type == "Input")
    source.params.update(mean=mean, std=std)
    prototxt, caffemodel = export_caffe(project, tmp_path)
    (x,) = random_inputs(project.graph, 2)
    fed = x.numpy()
    if len(set(mean)) > 1:
        assert "Standardize x1 before feeding it" in prototxt.read_text()
        fed = (fed - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))
    (got,) = run_opencv_caffe(prototxt, caffemodel, {"x1": fed.astype(np.float32)}, plan_caffe(project).output_layers())
    with torch.no_grad():
        expected = seeded_model(project)(x).numpy()
    assert np.abs(got - expected).max() / np.abs(expected).max() < TOLERANCE


def test_layer_studio_verify_runs_a_caffe_export_whose_pool_rounds_down(tmp_path: Path) -> None:
    """The lead's `verify` reads the pair in OpenCV; the sliced-off windows' Silence layer is no output of the net."""
    from studio.verify.check import verify_export

    project = single_layer("MaxPool2d", {"kernel_size": 3, "stride": 2}, [(3, 8, 8)])
    prototxt, _ = export_caffe(project, tmp_path)
    assert "Silence" in prototxt.read_text()
    result = verify_export(prototxt, project, samples=2)
    assert result.ok and result.runtime == "opencv", result.lines()
