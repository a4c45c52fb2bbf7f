"""ONNX import: classic architectures, operator forms, names, refusals of hostile files, and writing the result.

Each import is checked the strongest way available: the imported project checks clean, has
the source model's exact parameter count, and its generated PyTorch code (holding the
imported weights) gives ONNX Runtime's outputs for the original file within 1e-4.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from studio.codegen.export import build_torch_model, load_weights
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.weights import by_attribute
from studio.graph.catalogue import CATALOGUE
from studio.graph.flatten import flatten
from studio.graph.project import load_project, trained_weights
from studio.graph.shapes import analyse
from studio.interop import import_model
from studio.interop.common import (
    ImportWriteError,
    ModelImportError,
    UnsupportedLayersError,
    weights_path,
    write_imported,
)
from studio.interop.onnx_import import (
    PATTERN_LIBRARY,
    import_onnx,
    registered_patterns,
    supported_operators,
)
from tests.interop import modern_models as mm
from tests.interop import onnx_models as om

CLASSICS: dict[
    str, tuple[Callable[[], torch.nn.Module], int, int]
] = {  # builder, image size, opset
    "alexnet": (om.AlexNet, 224, 9),
    "vgg11": (om.vgg11, 224, 11),
    "resnet50": (om.ResNet50, 64, 13),
    "inception_module": (om.InceptionNet, 32, 15),
    "squeezenet_fire": (om.squeezenet11, 64, 17),
    "densenet_concat": (om.DenseNet, 16, 16),
    "shufflenet_shuffle": (om.shufflenet, 16, 12),
}


@pytest.fixture(scope="module")
def classic(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], tuple[Path, int]]:
    """Export a classic architecture once per test session: its file and the torch model's parameter count."""
    folder = tmp_path_factory.mktemp("classics")
    built: dict[str, tuple[Path, int]] = {}

    def get(name: str) -> tuple[Path, int]:
        if name not in built:
            make, size, opset = CLASSICS[name]
            torch.manual_seed(0)
            model = om.randomized(make())
            path = om.export_torch(
                model, torch.randn(2, 3, size, size), folder / f"{name}.onnx", opset
            )
            built[name] = (path, sum(p.numel() for p in model.parameters()))
        return built[name]

    return get


def layer_types(imported: object) -> set[str]:
    return {n.type for n in flatten(imported.project.graph).nodes.values()}  # type: ignore[attr-defined]


# ----- classic architectures -----
@pytest.mark.parametrize("name", CLASSICS)
def test_classic_architecture_keeps_its_parameters_and_outputs(
    name: str, classic: Callable[[str], tuple[Path, int]]
) -> None:
    path, torch_params = classic(name)
    imported = import_onnx(path)
    analysis = analyse(imported.project.graph)
    assert analysis.is_valid, [d.text for d in analysis.diagnostics()]
    assert analysis.summary().trainable_params == torch_params
    om.assert_matches_onnxruntime(path, imported, batch=2 if name == "vgg11" else 3)


def test_classic_layers_are_the_expected_ones(
    classic: Callable[[str], tuple[Path, int]],
) -> None:
    alexnet = layer_types(import_onnx(classic("alexnet")[0]))
    assert {"LocalResponseNorm", "Conv2d", "MaxPool2d", "Linear", "Flatten"} <= alexnet
    resnet = flatten(import_onnx(classic("resnet50")[0]).project.graph)
    assert sum(1 for n in resnet.nodes.values() if n.type == "BatchNorm2d") == 53
    assert sum(1 for n in resnet.nodes.values() if n.type == "Add") == 16
    dense = flatten(import_onnx(classic("densenet_concat")[0]).project.graph)
    assert (
        max(n.params["num_inputs"] for n in dense.nodes.values() if n.type == "Concat")
        == 16
    )  # 19 inputs, chained
    shuffle = layer_types(import_onnx(classic("shufflenet_shuffle")[0]))
    assert "ChannelShuffle" in shuffle and not {"Reshape", "Permute"} & shuffle


def test_imported_graph_is_laid_out_and_keeps_node_names(
    classic: Callable[[str], tuple[Path, int]],
) -> None:
    imported = import_onnx(classic("squeezenet_fire")[0], blocks=False)
    nodes = imported.project.graph.nodes.values()
    positions = [n.position for n in nodes]
    assert len(set(positions)) == len(positions)
    assert len({x for x, _ in positions}) > 2 and len({y for _, y in positions}) > 2
    names = {n.name for n in nodes}
    assert {"image", "scores", "/3/squeeze/squeeze.0/Conv", "/3/Concat"} <= names
    assert (
        imported.project.name == "squeezenet_fire"
        and "opset 17" in imported.project.description
    )


# ----- operator forms -----
@pytest.mark.parametrize("case", om.OPERATOR_CASES)
def test_operator_form_imports_faithfully(case: str, tmp_path: Path) -> None:
    build, expected_types = om.OPERATOR_CASES[case]
    path = om.save(build(), tmp_path / f"{case}.onnx")
    imported = import_onnx(path)
    assert analyse(imported.project.graph).is_valid
    assert expected_types <= layer_types(imported), expected_types - layer_types(
        imported
    )
    om.assert_matches_onnxruntime(path, imported)


def test_several_inputs_and_outputs_keep_their_names_and_order(tmp_path: Path) -> None:
    imported = import_onnx(om.save(om.sum_of_three(), tmp_path / "three.onnx"))
    graph = imported.project.graph
    assert [n.name for n in graph.nodes.values() if n.type == "Input"] == [
        "a",
        "b",
        "c",
    ]
    assert [n.name for n in graph.nodes.values() if n.type == "Output"] == ["y", "z"]
    adds = [n for n in graph.nodes.values() if n.type == "Add"]
    assert (
        len(adds) == 1 and adds[0].params["num_inputs"] == 3 and adds[0].name == "total"
    )


def test_scale_and_shift_become_one_batch_norm_with_identity_statistics(
    tmp_path: Path,
) -> None:
    imported = import_onnx(om.save(om.scale_shift(), tmp_path / "affine.onnx"))
    norms = [
        n for n in imported.project.graph.nodes.values() if n.type == "BatchNorm2d"
    ]
    assert len(norms) == 1 and len(imported.project.graph) == 3
    prefix = f"{norms[0].id}/"
    np.testing.assert_allclose(imported.state[f"{prefix}running_mean"], 0)
    np.testing.assert_allclose(
        imported.state[f"{prefix}running_var"] + norms[0].params["eps"], 1, rtol=1e-6
    )


def test_names_are_kept_where_allowed_and_made_unique(tmp_path: Path) -> None:
    long = "x" * 300
    nodes = [
        om.node("Relu", ["x"], ["a"], "conv 1"), om.node("Relu", ["a"], ["b"], "dup"), om.node("Relu", ["b"], ["c"], "dup"),
        helper.make_node("Relu", ["c"], ["d"]), om.node("Relu", ["d"], ["e"], long), om.node("Relu", ["e"], ["y"], "tab\there\nnew"),
    ]  # fmt: skip
    imported = import_onnx(
        om.save(om.model(nodes, [("x", [3])], ["y"]), tmp_path / "names.onnx")
    )
    names = [n.name for n in imported.project.graph.nodes.values()]
    assert len(set(names)) == len(names)
    assert {"conv 1", "dup", "dup_2", "x", "y"} <= set(names)
    assert all(len(n) <= 128 and n.isprintable() for n in names)
    assert any(n.startswith("xxxx") for n in names) and "relu" in names


def test_model_with_a_fixed_batch_of_one_imports_with_a_note(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [
        om.node("Reshape", ["x", "target"], ["flat"], "flatten"),
        om.node("Gemm", ["flat", "w"], ["y"], "fc", transB=1),
    ]
    inits = [
        om.tensor("target", np.array([1, -1], np.int64)),
        om.tensor("w", om.rand(4, 18)),
    ]
    proto = helper.make_model(
        helper.make_graph(nodes, "fixed", [x], [y], inits),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    path = om.save(proto, tmp_path / "fixed.onnx")
    imported = import_onnx(path)
    assert any("batch of 1" in w for w in imported.warnings)
    assert {"Flatten", "Linear"} <= layer_types(imported)
    om.assert_matches_onnxruntime(path, imported, batch=1)


def test_external_data_beside_the_model_is_read(tmp_path: Path) -> None:
    proto = om.gemm_without_trans_b()
    onnx.save(
        proto,
        str(tmp_path / "big.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="big.data",
        size_threshold=0,
    )
    assert (tmp_path / "big.data").is_file()
    imported = import_onnx(tmp_path / "big.onnx")
    om.assert_matches_onnxruntime(tmp_path / "big.onnx", imported)


# ----- Slice and Split -----
INT64_MAX = np.iinfo(np.int64).max


def ints(name: str, values: list[int]) -> onnx.TensorProto:
    return om.tensor(name, np.array(values, np.int64))


def slice_channels() -> onnx.ModelProto:
    """Opset 13 Slice of channels 2:5, its starts from a Constant node, the rest initializers."""
    nodes = [
        helper.make_node("Constant", [], ["starts"], value=om.tensor("v", np.array([2], np.int64))),
        om.node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"], "channels"), om.node("Relu", ["s"], ["y"]),
    ]  # fmt: skip
    inits = [ints("ends", [5]), ints("axes", [1]), ints("steps", [1])]
    return om.model(nodes, [("x", [6, 4, 4])], ["y"], inits)


def slice_from_the_end() -> onnx.ModelProto:
    """Negative starts and ends, INT64_MAX ends, a whole batch axis and a Slice that keeps everything."""
    nodes = [
        om.node("Slice", ["x", "s0", "e0", "a0"], ["last3"], "last_three"),
        om.node("Slice", ["last3", "s1", "e1", "a1"], ["head"], "all_but_last"),
        om.node("Slice", ["head", "s2", "e2", "a1"], ["y"], "everything"),
    ]  # fmt: skip
    inits = [
        ints("s0", [0, -3]), ints("e0", [INT64_MAX, INT64_MAX]), ints("a0", [0, -1]),
        ints("s1", [-100]), ints("e1", [-1]), ints("a1", [1]), ints("s2", [0]), ints("e2", [INT64_MAX]),
    ]  # fmt: skip
    return om.model(nodes, [("x", [3, 8])], ["y"], inits)


def slice_of_half_the_channels() -> onnx.ModelProto:
    """torch.chunk's form: the start is half of Shape(x)[1], a constant sub-graph folded at import."""
    nodes = [
        om.node("Shape", ["x"], ["shape"]), om.node("Gather", ["shape", "one"], ["c"], axis=0),
        om.node("Div", ["c", "two"], ["half"]), om.node("Slice", ["x", "half", "end", "axis"], ["y"], "second_half"),
    ]  # fmt: skip
    inits = [
        ints("one", [1]),
        ints("two", [2]),
        ints("end", [INT64_MAX]),
        ints("axis", [1]),
    ]
    return om.model(nodes, [("x", [6, 3])], ["y"], inits)


def slice_opset_9() -> onnx.ModelProto:
    """Opset 9 Slice with starts, ends and axes attributes, and without axes."""
    nodes = [
        om.node("Slice", ["x"], ["rows"], "rows", starts=[1], ends=[3], axes=[2]),
        om.node("Slice", ["rows"], ["y"], "channels", starts=[0, 1], ends=[INT64_MAX, 3]),
    ]  # fmt: skip
    return om.model(nodes, [("x", [3, 5, 5])], ["y"], opset=9)


def split_equal() -> onnx.ModelProto:
    """Opset 13 Split into three equal parts, put back together in another order."""
    nodes = [
        om.node("Split", ["x"], ["a", "b", "c"], "thirds", axis=1),
        om.node("Concat", ["c", "a", "b"], ["y"], "reordered", axis=1),
    ]  # fmt: skip
    return om.model(nodes, [("x", [6, 2])], ["y"])


def split_sizes_input() -> onnx.ModelProto:
    """Opset 13 Split by a constant sizes input along the last axis."""
    nodes = [
        om.node("Split", ["x", "sizes"], ["a", "b", "c"], "parts", axis=-1),
        om.node("Concat", ["c", "b", "a"], ["y"], "reversed", axis=2),
    ]  # fmt: skip
    return om.model(nodes, [("x", [2, 6])], ["y"], [ints("sizes", [1, 2, 3])])


def split_sizes_attribute() -> onnx.ModelProto:
    """Opset 11 Split by a sizes attribute, its middle part read by nothing."""
    nodes = [
        om.node("Split", ["x"], ["a", "unused", "c"], "parts", axis=1, split=[1, 2, 3]),
        om.node("Relu", ["a"], ["ra"]), om.node("Sigmoid", ["c"], ["sc"]),
        om.node("Concat", ["ra", "sc"], ["y"], "joined", axis=1),
    ]  # fmt: skip
    return om.model(nodes, [("x", [6, 3])], ["y"], opset=11)


def split_num_outputs() -> onnx.ModelProto:
    """Opset 18 Split with num_outputs: 7 entries as 3, 3 and 1."""
    nodes = [
        om.node("Split", ["x"], ["a", "b", "c"], "chunks", axis=2, num_outputs=3),
        om.node("Concat", ["b", "c", "a"], ["y"], "joined", axis=2),
    ]  # fmt: skip
    return om.model(nodes, [("x", [2, 7])], ["y"], opset=18)


def shufflenet_v2_block() -> onnx.ModelProto:
    """ShuffleNet V2's basic unit: split the channels in two, a convolution on one half, concat, shuffle."""
    nodes = [
        om.node("Split", ["x", "halves"], ["keep", "work"], "channel_split", axis=1),
        om.node("Conv", ["work", "w0", "b0"], ["c"], "branch_conv", kernel_shape=[1, 1]),
        om.node("Relu", ["c"], ["r"]), om.node("Concat", ["keep", "r"], ["cat"], "join", axis=1),
        om.node("Reshape", ["cat", "grouped"], ["g"], "group"), om.node("Transpose", ["g"], ["t"], perm=[0, 2, 1, 3, 4]),
        om.node("Reshape", ["t", "back"], ["y"], "ungroup"),
    ]  # fmt: skip
    inits = [
        ints("halves", [4, 4]), *om.conv_weights(4, 4, 1),
        ints("grouped", [0, 2, 4, 5, 5]), ints("back", [-1, 8, 5, 5]),
    ]  # fmt: skip
    return om.model(nodes, [("x", [8, 5, 5])], ["y"], inits)


SLICE_CASES = {  # builder: (dim, start, length) of each Slice layer, in order; 0: to the end
    "slice_channels": (slice_channels, [(1, 2, 3)]),
    "slice_from_the_end": (slice_from_the_end, [(2, 5, 0), (1, 0, 2)]),
    "slice_of_half_the_channels": (slice_of_half_the_channels, [(1, 3, 0)]),
    "slice_opset_9": (slice_opset_9, [(2, 1, 2), (1, 1, 2)]),
    "split_equal": (split_equal, [(1, 0, 2), (1, 2, 2), (1, 4, 2)]),
    "split_sizes_input": (split_sizes_input, [(2, 0, 1), (2, 1, 2), (2, 3, 3)]),
    "split_sizes_attribute": (split_sizes_attribute, [(1, 0, 1), (1, 3, 3)]),
    "split_num_outputs": (split_num_outputs, [(2, 0, 3), (2, 3, 3), (2, 6, 1)]),
    "shufflenet_v2_block": (shufflenet_v2_block, [(1, 0, 4), (1, 4, 4)]),
}


def windows(imported: object) -> list[tuple[int, int, int]]:
    """(dim, start, length) of each Slice layer and of each piece of a Split or Chunk layer, in graph order."""
    graph = imported.project.graph  # type: ignore[attr-defined]
    found = []
    for node in graph.nodes.values():
        if node.type == "Slice":
            found.append((node.params["dim"], node.params["start"], node.params["length"]))
        elif node.type in ("Split", "Chunk"):
            dim, start = node.params["dim"], 0
            for shape in analyse(graph).result(node.id).outputs.values():
                found.append((dim, start, shape[dim]))
                start += shape[dim]
    return found


@pytest.mark.parametrize("case", SLICE_CASES)
def test_slice_and_split_take_their_windows(case: str, tmp_path: Path) -> None:
    build, expected = SLICE_CASES[case]
    path = om.save(build(), tmp_path / f"{case}.onnx")
    imported = import_onnx(path)
    assert analyse(imported.project.graph).is_valid
    assert windows(imported) == expected
    om.assert_matches_onnxruntime(path, imported)


def test_split_parts_are_named_after_the_split(tmp_path: Path) -> None:
    imported = import_onnx(om.save(split_sizes_attribute(), tmp_path / "split.onnx"))
    names = {n.name for n in imported.project.graph.nodes.values() if n.type == "Slice"}
    assert names == {"parts_0", "parts_2"}  # the part nothing reads is left out


class ShuffleV2Unit(torch.nn.Module):
    """A ShuffleNet V2 unit written with chunk, split and indexing, as torch.onnx sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.branch = torch.nn.Sequential(
            torch.nn.Conv2d(4, 4, 1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep, work = x.chunk(2, dim=1)
        y = om.channel_shuffle(torch.cat((keep, self.branch(work)), dim=1), 2)
        a, b, c = y.split([2, 3, 3], dim=1)
        return torch.cat((a, b[:, 1:], c[:, 1:]), dim=1)[:, :, 1:-1]


@pytest.mark.parametrize(("opset", "dynamo"), [(11, False), (13, False), (18, True)])
def test_torch_chunk_and_split_import_as_slices(
    opset: int, dynamo: bool, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = om.randomized(ShuffleV2Unit())
    path = om.export_torch(
        model, torch.randn(2, 8, 6, 6), tmp_path / "unit.onnx", opset, dynamo
    )
    imported = import_onnx(path)
    assert analyse(imported.project.graph).summary().trainable_params == sum(
        p.numel() for p in model.parameters()
    )
    assert (1, 0, 4) in windows(imported) and (2, 1, 4) in windows(imported)
    om.assert_matches_onnxruntime(path, imported)


def test_a_crop_over_two_axes_becomes_a_chain_of_slices(tmp_path: Path) -> None:
    nodes = [om.node("Slice", ["x", "starts", "ends", "axes"], ["y"], "crop")]
    inits = [ints("starts", [1, 1]), ints("ends", [-1, -1]), ints("axes", [2, 3])]  # x[:, :, 1:-1, 1:-1]
    path = om.save(om.model(nodes, [("x", [3, 6, 6])], ["y"], inits), tmp_path / "crop.onnx")
    imported = import_onnx(path)
    graph = imported.project.graph
    crops = [graph.node_by_name(f"crop_dim{axis}") for axis in (2, 3)]
    assert [(n.params["dim"], n.params["start"], n.params["length"]) for n in crops] == [(2, 1, 4), (3, 1, 4)]
    assert graph.source_of(crops[1].id, "in").src == crops[0].id
    om.assert_matches_onnxruntime(path, imported)


def test_slices_without_a_faithful_layer_are_reported_by_name(tmp_path: Path) -> None:
    nodes = [
        om.node("Shape", ["x"], ["shape"]), om.node("Gather", ["shape", "zero"], ["batch"], axis=0),
        om.node("Div", ["batch", "four"], ["from_batch"]),
        om.node("Slice", ["x", "from_batch", "e4", "a1"], ["computed"], "by_batch"),
        om.node("Slice", ["x", "s1", "e3", "a0"], ["samples"], "some_samples"),
        om.node("Slice", ["x", "s3", "e1", "a1"], ["empty"], "nothing"),
        om.node("Split", ["x"], ["first", "second"], "batch_halves", axis=0),
    ]  # fmt: skip
    inits = [
        ints("s0", [0]), ints("s1", [1]), ints("s3", [3]), ints("e1", [1]), ints("e3", [3]), ints("e4", [4]),
        ints("a0", [0]), ints("a1", [1]), ints("zero", [0]), ints("four", [4]),
    ]  # fmt: skip
    outputs = ["computed", "samples", "empty", "first"]  # a stepped Slice imports (IndexSelect): test_real_models.py
    proto = om.model(nodes, [("x", [4, 4, 4])], outputs, inits)
    with pytest.raises(UnsupportedLayersError) as err:
        import_onnx(om.save(proto, tmp_path / "slices.onnx"))
    assert err.value.found == {
        "Slice (its starts is computed, not a constant)": (1, "by_batch"),
        "Slice (over the batch dimension)": (1, "some_samples"),
        "Slice (an empty window)": (1, "nothing"),
        "Split (over the batch dimension)": (1, "batch_halves"),
    }
    assert {"Slice", "Split"} <= set(supported_operators())


# ----- what cannot be imported -----
def test_every_unsupported_operator_is_listed_at_once(tmp_path: Path) -> None:
    nodes = [
        om.node("Relu", ["x"], ["r"], "fine"), om.node("NonZero", ["r"], ["nz1"], "first_nonzero"),
        om.node("NonZero", ["r"], ["nz2"], "second_nonzero"), om.node("Acosh", ["r"], ["cos"], "wave"),
        helper.make_node("Fancy", ["r"], ["f"], name="custom", domain="com.example"),
        om.node("Add", ["cos", "x"], ["y"], "sum"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "nz1", "nz2", "f")],
    )  # fmt: skip
    proto = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", 13),
            helper.make_opsetid("com.example", 1),
        ],
    )
    with pytest.raises(UnsupportedLayersError) as err:
        import_onnx(om.save(proto, tmp_path / "bad.onnx"))
    text = str(err.value)
    assert "NonZero: 2 nodes, first 'first_nonzero'" in text
    assert (
        "Acosh: 1 node, first 'wave'" in text
        and "com.example.Fancy: 1 node, first 'custom'" in text
    )
    assert "sum" not in text  # fed by an unsupported node, it is not reported again
    assert err.value.found["NonZero"] == (2, "first_nonzero")


def hostile_initializer(dims: list[int], raw: bytes = b"") -> onnx.ModelProto:
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims, raw_data=raw)
    return _unchecked([om.node("Add", ["x", "w"], ["y"])], [weight])


def _unchecked(
    nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], dims: list | None = None
) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims or ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_model(
        helper.make_graph(nodes, "hostile", [x], [y], inits),
        opset_imports=[helper.make_opsetid("", 13)],
    )


def external(location: str) -> onnx.ModelProto:
    weight = TensorProto(
        name="w",
        data_type=TensorProto.FLOAT,
        dims=[4],
        data_location=TensorProto.EXTERNAL,
    )
    weight.external_data.add(key="location", value=location)
    return _unchecked([om.node("Add", ["x", "w"], ["y"])], [weight])


def refused(path: Path, *words: str) -> str:
    with pytest.raises(ModelImportError) as err:
        import_onnx(path)
    assert not isinstance(err.value, UnsupportedLayersError)
    text = str(err.value)
    assert all(w in text for w in words), text
    return text


def test_truncated_and_garbage_files_are_refused_with_their_name(
    tmp_path: Path,
) -> None:
    good = om.padded_convolutions().SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(good[: len(good) // 2])
    refused(tmp_path / "cut.onnx", "cut.onnx", "truncated")
    (tmp_path / "noise.onnx").write_bytes(os.urandom(4000))
    refused(tmp_path / "noise.onnx", "noise.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    refused(tmp_path / "empty.onnx", "empty")
    refused(tmp_path / "missing.onnx", "missing.onnx")
    (tmp_path / "folder.onnx").mkdir()
    refused(tmp_path / "folder.onnx", "not a file")


def test_huge_dimensions_are_refused_before_anything_is_allocated(
    tmp_path: Path,
) -> None:
    refused(
        om.save(hostile_initializer([2**20, 2**20, 2**10]), tmp_path / "huge.onnx"),
        "'w'",
        "too large",
    )
    big_input = _unchecked([om.node("Relu", ["x"], ["y"])], [], ["N", 10**9, 10**9])
    refused(om.save(big_input, tmp_path / "input.onnx"), "'x'", "too large")
    grow = [
        om.node("ConstantOfShape", ["shape"], ["zeros"]),
        om.node("Add", ["x", "zeros"], ["y"]),
    ]
    with pytest.raises(
        UnsupportedLayersError,
        match="would build a constant of 1,000,000,000,000 elements",
    ):
        import_onnx(
            om.save(
                _unchecked(
                    grow, [om.tensor("shape", np.array([10**6, 10**6], np.int64))]
                ),
                tmp_path / "grow.onnx",
            )
        )


def test_a_tensor_holding_less_data_than_it_declares_is_refused(tmp_path: Path) -> None:
    refused(
        om.save(hostile_initializer([4], raw=b"\x00" * 7), tmp_path / "short.onnx"),
        "'w'",
        "truncated or damaged",
    )
    short = TensorProto(
        name="w", data_type=TensorProto.FLOAT, dims=[4], float_data=[1.0, 2.0]
    )
    refused(
        om.save(
            _unchecked([om.node("Add", ["x", "w"], ["y"])], [short]),
            tmp_path / "few.onnx",
        ),
        "should hold 4 values",
    )


def test_external_data_outside_the_models_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 16)
    refused(
        om.save(external("../secret.bin"), folder / "up.onnx"),
        "leaving the model's folder",
    )
    refused(
        om.save(external(str(tmp_path / "secret.bin")), folder / "absolute.onnx"),
        "absolute path",
    )
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    refused(
        om.save(external("link.bin"), folder / "link.onnx"),
        "outside the model's folder",
    )
    refused(om.save(external("absent.bin"), folder / "absent.onnx"), "missing")
    (folder / "short.bin").write_bytes(b"\x00" * 8)
    refused(
        om.save(external("short.bin"), folder / "short.onnx"), "truncated or mismatched"
    )


def test_nested_sub_graphs_are_refused(tmp_path: Path) -> None:
    branch = helper.make_graph(
        [om.node("Relu", ["x"], ["r"])],
        "branch",
        [],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
    )
    nodes = [
        om.node("ReduceSum", ["x"], ["s"], keepdims=0), om.node("Greater", ["s", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["y"], name="choose", then_branch=branch, else_branch=branch),
    ]  # fmt: skip
    refused(
        om.save(_unchecked(nodes, [om.tensor("zero", 0.0)]), tmp_path / "if.onnx"),
        "'choose'",
        "nested sub-graph",
    )


def test_unknown_suffix_and_missing_file_are_refused_by_the_dispatcher(
    tmp_path: Path,
) -> None:
    (tmp_path / "model.tflite").write_bytes(b"x")
    with pytest.raises(ModelImportError, match="choose one of: .onnx, .prototxt, .pt2"):
        import_model(tmp_path / "model.tflite")
    imported = import_model(om.save(om.sum_of_three(), tmp_path / "three.onnx"))
    assert layer_types(imported) >= {"Add"}


# ----- writing the result -----
def test_write_imported_stores_the_project_and_its_weights(tmp_path: Path) -> None:
    imported = import_onnx(om.save(om.padded_convolutions(), tmp_path / "convs.onnx"))
    out = tmp_path / "out" / "convs.lstudio"
    out.parent.mkdir()
    written = write_imported(imported, out)
    assert written == [out, out.with_name("convs.weights.npz")]
    project = load_project(out)
    assert project.training.weights == "convs.weights.npz"
    assert trained_weights(project, out) == weights_path(out.resolve())
    model = build_torch_model(generate_pytorch(project), seed=1)
    load_weights(model, weights_path(out), project)
    state = by_attribute(imported.state, project)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[key])


def test_a_failed_write_leaves_no_orphan_weights(tmp_path: Path) -> None:
    imported = import_onnx(om.save(om.gemm_without_trans_b(), tmp_path / "fc.onnx"))
    with pytest.raises(ImportWriteError, match="must end in .lstudio"):
        write_imported(imported, tmp_path / "fc.json")
    blocked = tmp_path / "blocked.lstudio"
    blocked.mkdir()  # a folder where the project file should go
    with pytest.raises(ImportWriteError, match="cannot be written"):
        write_imported(imported, blocked)
    assert not (tmp_path / "blocked.weights.npz").exists()


def test_weights_match_the_generated_models_keys_and_shapes(
    classic: Callable[[str], tuple[Path, int]],
) -> None:
    imported = import_onnx(classic("resnet50")[0])
    expected = build_torch_model(generate_pytorch(imported.project), 0).state_dict()
    state = by_attribute(imported.state, imported.project)
    assert set(state) == set(expected)
    assert all(
        tuple(state[k].shape) == tuple(v.shape) for k, v in expected.items()
    )
    assert math.isclose(
        sum(v.size for v in imported.state.values()),
        sum(v.numel() for v in expected.values()),
    )


def test_every_pattern_of_several_nodes_is_registered_by_a_layer_family() -> None:
    claimed = [name for spec in CATALOGUE.values() for name in spec.onnx_patterns]
    assert sorted(set(claimed)) == sorted(PATTERN_LIBRARY), "a pattern no family claims is never tried"
    assert len(registered_patterns()) == len(PATTERN_LIBRARY)


def test_a_pattern_no_family_claims_is_not_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    linear = CATALOGUE["Linear"]
    monkeypatch.setitem(CATALOGUE, "Linear", dataclasses.replace(linear, onnx_patterns=()))
    assert all(matcher is not PATTERN_LIBRARY["matmul_add"][1] for _, matcher in registered_patterns())


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_mobilenet_v3_imports_with_its_squeeze_and_excitation_gates(tmp_path: Path, dynamo: bool) -> None:
    model = mm.randomized(mm.mobilenet_v3(gates=3))
    path = om.export_torch(model, torch.randn(2, 3, 16, 16), tmp_path / "mobilenet.onnx", 18 if dynamo else 13, dynamo)
    imported = import_onnx(path)
    gates = [n for n in flatten(imported.project.graph).nodes.values() if n.type == "Multiply"]
    assert len(gates) >= 3  # (N, C, H, W) times the (N, C, 1, 1) gate, broadcast (and hard-swish below opset 14)
    held = sum(np.prod(t.dims, dtype=int) for t in onnx.load(path).graph.initializer if t.data_type == TensorProto.FLOAT)
    assert sum(v.size for v in imported.state.values() if v.dtype == np.float32) == held  # as the file holds them
    om.assert_matches_onnxruntime(path, imported)
