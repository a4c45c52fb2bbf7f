"""ONNX import makes blocks of the source model's modules: ResNet-50 from both torch.onnx exporters, scopes read from names and metadata, flat where the file has none.

ResNet-50 is written with torchvision's module names (`onnx_models.ResNet50`), so the imported
network of blocks is checked against the original three ways: ONNX Runtime's outputs of the
file, the exact parameter count, and the original's own state dict loaded by key into the
generated PyTorch code.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from studio.cli import main
from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch
from studio.graph.flatten import flatten
from studio.graph.layout import SCREEN, bounds, layered_positions
from studio.graph.model import Graph
from studio.graph.project import load_project
from studio.graph.shapes import analyse
from studio.interop.block_variants import left_out
from studio.interop.common import LAYOUT_ASPECT, ImportedModel, write_imported
from studio.interop.module_blocks import group_by_modules
from studio.interop.onnx_import import import_onnx
from studio.interop.onnx_scopes import NO_SCOPE, Scope, node_scope
from tests.interop import modern_models as mm
from tests.interop import onnx_models as om

RESNET50_PARAMS = 25_557_032  # torchvision's resnet50 at 1000 classes
TOP_LEVEL_MOST = 25


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, dict[str, Path]]:
    """ResNet-50 with random statistics, exported once by each exporter (dynamo without folding BatchNorm into the convolutions)."""
    folder = tmp_path_factory.mktemp("resnet50")
    torch.manual_seed(0)
    model = om.randomized(om.ResNet50())
    sample = torch.randn(2, 3, 64, 64)
    paths = {
        "torchscript": om.export_torch(model, sample, folder / "torchscript.onnx", 13),
        "dynamo": om.export_torch(model, sample, folder / "dynamo.onnx", 18, dynamo=True, optimize=False),
    }
    return model, paths


@pytest.fixture(scope="module")
def imported(resnet50: tuple[torch.nn.Module, dict[str, Path]]) -> dict[str, ImportedModel]:
    return {name: import_onnx(path) for name, path in resnet50[1].items()}


EXPORTERS = ["torchscript", "dynamo"]


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_resnet50_opens_as_a_stem_four_stages_and_a_head(exporter: str, imported: dict[str, ImportedModel]) -> None:
    graph = imported[exporter].project.graph
    assert len(graph) <= TOP_LEVEL_MOST
    top = [(n.name, n.type if n.block is None else "block") for n in graph.nodes.values()]
    assert top == [
        ("image", "Input"), ("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("relu", "ReLU"), ("maxpool", "MaxPool2d"),
        ("layer1", "block"), ("layer2", "block"), ("layer3", "block"), ("layer4", "block"),
        ("avgpool", "AdaptiveAvgPool2d"), (top[10][0], "Flatten"), ("fc", "Linear"), ("scores", "Output"),
    ]  # fmt: skip
    analysis = analyse(graph)
    assert analysis.is_valid, [d.text for d in analysis.diagnostics()]
    assert analysis.summary().trainable_params == RESNET50_PARAMS
    flat = flatten(graph)
    kinds = Counter(n.type for n in flat.nodes.values())
    assert (kinds["Conv2d"], kinds["BatchNorm2d"], kinds["Add"]) == (53, 53, 16)
    assert imported[exporter].warnings == []
    right, bottom = bounds(graph, {n.id: n.position for n in graph.nodes.values()})[2:]
    assert right <= SCREEN[0] and bottom <= SCREEN[1]  # the import lays the top level out on one screen
    for block in imported[exporter].project.blocks:  # and each block's graph on its own
        assert {n.id: n.position for n in block.graph.nodes.values()} == layered_positions(block.graph, aspect=LAYOUT_ASPECT)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_look_alike_modules_share_one_block_with_what_differs_exposed(exporter: str, imported: dict[str, ImportedModel]) -> None:
    project = imported[exporter].project
    stages = {n.name: n for n in project.graph.nodes.values() if n.block is not None}
    assert stages["layer1"].type == stages["layer4"].type  # 3 bottlenecks each, of other widths
    assert len({s.type for s in stages.values()}) == 3
    inner = [n for s in stages.values() for n in s.block.graph.nodes.values() if n.block is not None]
    assert len(inner) == 16 and len({n.type for n in inner}) == 1  # one bottleneck block, whatever the widths
    bottleneck = inner[0].block
    exposed = {e.name: e for e in bottleneck.exposed}
    assert "stride" in exposed and len(exposed["stride"].binds) == 2  # conv2 and the shortcut's convolution
    shortcut = [bottleneck.graph.node(n).name for n in exposed["downsample"].switches]
    assert shortcut == ["downsample"]  # a block of its own (Sequential of 0 and 1), switched on where the shape changes
    on = [n.name for s in stages.values() for n in s.block.graph.nodes.values() if n.block is not None and n.params["downsample"]]
    assert on == ["0"] * 4  # each stage's first block, as the stages use them
    if exporter == "dynamo":  # the file records the module classes
        assert "Bottleneck" in {b.name for b in project.blocks}


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_resnet50_of_blocks_computes_what_the_file_computes(exporter: str, resnet50: tuple[torch.nn.Module, dict[str, Path]], imported: dict[str, ImportedModel]) -> None:
    om.assert_matches_onnxruntime(resnet50[1][exporter], imported[exporter], batch=2)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_generated_code_has_the_source_models_state_dict_keys(exporter: str, resnet50: tuple[torch.nn.Module, dict[str, Path]], imported: dict[str, ImportedModel]) -> None:
    original = resnet50[0]
    generated = build_torch_model(generate_pytorch(imported[exporter].project), 0)
    assert set(generated.state_dict()) == set(original.state_dict())  # layer1.0.downsample.0.weight, ...
    generated.load_state_dict(original.state_dict())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(generated.eval()(x), original(x), rtol=1e-4, atol=1e-5)


def test_imported_weights_are_keyed_per_instance(imported: dict[str, ImportedModel]) -> None:
    model = imported["torchscript"]
    flat_ids = {n.id for n in flatten(model.project.graph).nodes.values()}
    owners = {key.split("/")[0] for key in model.state}
    assert owners <= flat_ids
    assert sum(1 for o in owners if o.count(".0.") == 2) == 3 * 16 * 2  # conv and norm of 3 layers in 16 bottlenecks
    assert sum(v.size for v in model.state.values()) == sum(t.numel() for t in om.ResNet50().state_dict().values())


def test_flat_import_keeps_every_layer_at_the_top(resnet50: tuple[torch.nn.Module, dict[str, Path]]) -> None:
    flat = import_onnx(resnet50[1]["torchscript"], blocks=False)
    assert len(flat.project.blocks) == 0 and len(flat.project.graph) == 177
    assert analyse(flat.project.graph).summary().trainable_params == RESNET50_PARAMS


# ----- scopes as the exporters write them -----
def _meta(node: onnx.NodeProto, **props: str) -> onnx.NodeProto:
    for key, value in props.items():
        entry = node.metadata_props.add()
        entry.key, entry.value = key.replace("__", "."), value
    return node


def test_scopes_are_read_from_names_and_from_metadata() -> None:
    assert node_scope(helper.make_node("Conv", ["x"], ["y"], name="/layer1/layer1.0/downsample/downsample.0/Conv")) == Scope(
        ("layer1", "0", "downsample", "0"), ("", "", "", ""), "Conv"
    )
    assert node_scope(helper.make_node("Flatten", ["x"], ["y"], name="/Flatten")) == Scope((), (), "Flatten")
    dynamo = _meta(
        helper.make_node("Relu", ["x"], ["y"], name="node_relu_3"),
        pkg__torch__onnx__name_scopes="['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu_3']",
        pkg__torch__onnx__class_hierarchy="['m.Net', 'torch.nn.Sequential', 'm.Bottleneck', 'torch.nn.ReLU', 'aten.relu.default']",
    )
    assert node_scope(dynamo) == Scope(("layer1", "0", "relu"), ("Sequential", "Bottleneck", "ReLU"), "relu_3")
    older = _meta(helper.make_node("Add", ["x", "x"], ["y"], name="node_add"), namespace=": m.Net/layer1: torch.nn.Sequential/layer1.0: m.Bottleneck/add_85: aten.add.Tensor")
    assert node_scope(older) == Scope(("layer1", "0"), ("Sequential", "Bottleneck"), "add_85")
    assert node_scope(helper.make_node("Relu", ["x"], ["y"], name="relu_7")) == NO_SCOPE
    assert node_scope(helper.make_node("Conv", ["x"], ["y"], name="layer1_0.conv1")) == Scope(("layer1_0",), ("",), "conv1")
    assert node_scope(helper.make_node("Conv", ["x"], ["y"], name="stack.1.conv")) == Scope(("stack", "1"), ("", ""), "conv")
    assert node_scope(helper.make_node("Conv", ["x"], ["y"], name="conv.1x1")) == NO_SCOPE  # not a path of identifiers
    hook = _meta(helper.make_node("Shape", ["x"], ["y"]), pkg__torch__onnx__name_scopes="['_empty_nn_module_stack_from_metadata_hook', 'sym_size_int_1']")
    assert node_scope(hook) == NO_SCOPE


def _scoped(names: list[str]) -> onnx.ModelProto:
    """A chain of weightless operators named as TorchScript names them: Relu, Sigmoid, Tanh, Neg, Abs, Exp."""
    ops = ["Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Exp"]
    nodes, x = [], "x"
    for i, (op, name) in enumerate(zip(ops, names)):
        y = "y" if i == len(names) - 1 else f"t{i}"
        nodes.append(helper.make_node(op, [x], [y], name=name))
        x = y
    return om.model(nodes, [("x", [4, 5])], [("y", [4, 5])])


def test_a_module_interrupted_by_another_stays_flat_while_a_contiguous_one_is_a_block(tmp_path: Path) -> None:
    path = om.save(_scoped(["/p/Relu", "/q/Sigmoid", "/p/Tanh", "/r/s/Neg", "/r/t/Abs", "/Exp"]), tmp_path / "scoped.onnx")
    model = import_onnx(path)
    graph = model.project.graph
    assert [(n.name, n.type) for n in graph.nodes.values()] == [
        ("x", "Input"), ("p", "ReLU"), ("q", "Sigmoid"), ("p_2", "Tanh"), ("r", "R"), ("exp", "Exp"), ("y", "Output"),
    ]  # fmt: skip
    assert [(n.name, n.type) for n in model.project.blocks.get("R").graph.nodes.values()] == [("in", "Input"), ("s", "Neg"), ("t", "Abs"), ("out", "Output")]
    om.assert_matches_onnxruntime(path, model)


def test_a_model_without_scopes_imports_flat_as_before(tmp_path: Path) -> None:
    path = om.save(om.padded_convolutions(), tmp_path / "plain.onnx")
    blocked, flat = import_onnx(path), import_onnx(path, blocks=False)
    assert len(blocked.project.blocks) == 0

    def described(model: ImportedModel) -> list[object]:
        graph = model.project.graph
        return [(n.id, n.name, n.type, n.params, n.position) for n in graph.nodes.values()] + sorted(map(repr, graph.edges))

    assert described(blocked) == described(flat)
    assert blocked.state.keys() == flat.state.keys()


def test_blocks_survive_writing_and_the_cli_can_keep_the_import_flat(tmp_path: Path, resnet50: tuple[torch.nn.Module, dict[str, Path]], capsys: pytest.CaptureFixture[str]) -> None:
    path = om.save(_scoped(["/p/Relu", "/q/Sigmoid", "/p/Tanh", "/r/s/Neg", "/r/t/Abs", "/Exp"]), tmp_path / "scoped.onnx")
    assert main(["import", str(path), "-o", str(tmp_path / "blocks.lstudio")]) == 0
    assert main(["import", str(path), "-o", str(tmp_path / "flat.lstudio"), "--flat"]) == 0
    capsys.readouterr()
    assert [b.name for b in load_project(tmp_path / "blocks.lstudio").blocks] == ["R"]
    assert len(load_project(tmp_path / "flat.lstudio").blocks) == 0
    model = import_onnx(resnet50[1]["torchscript"])
    written = write_imported(model, tmp_path / "resnet.lstudio")
    again = load_project(written[0])
    assert analyse(again.graph).summary().trainable_params == RESNET50_PARAMS
    assert {b.name: len(b.graph) for b in again.blocks} == {b.name: len(b.graph) for b in model.project.blocks}
    stored = np.load(written[1])
    assert set(stored.files) == set(model.state)


def test_layers_the_exporter_left_unscoped_join_their_neighbours_module() -> None:
    flat = Graph()
    x = flat.add_node("Input", "x", {"shape": (4, 5)}).id
    a = flat.add_node("ReLU", "a").id
    rewritten = flat.add_node("Sigmoid", "node_Sigmoid_7").id  # made by an optimizer pass: no metadata
    b = flat.add_node("ReLU", "b").id
    table = flat.add_node("Parameter", "expand", {"shape": (4, 5)}).id  # read inside enc, recorded at the top
    add = flat.add_node("Add", "add_3").id
    head = flat.add_node("Tanh", "head").id
    out = flat.add_node("Output", "y").id
    for src, dst, port in ((x, a, "in"), (a, rewritten, "in"), (rewritten, b, "in"), (b, add, "in1"), (table, add, "in2"), (add, head, "in"), (head, out, "in")):
        flat.connect(src, "out", dst, port)
    scopes = {
        a: Scope(("enc", "a"), ("Encoder", "ReLU"), "relu"), rewritten: NO_SCOPE, b: Scope(("enc", "b"), ("Encoder", "ReLU"), "relu_1"),
        table: Scope((), (), "expand"), add: Scope(("enc",), ("Encoder",), "add_3"), head: Scope(("head",), ("Tanh",), "tanh"),
    }  # fmt: skip
    state = {f"{table}/value": np.ones((1, 4, 5), np.float32)}
    blocked = group_by_modules(flat, scopes, state)
    assert blocked is not None
    assert [(n.name, n.type) for n in blocked.graph.nodes.values()] == [("x", "Input"), ("enc", "Encoder"), ("head", "Tanh"), ("y", "Output")]
    inner = blocked.graph.library.get("Encoder").graph
    assert [n.name for n in inner.nodes.values()] == ["in", "a", "node_Sigmoid_7", "b", "expand", "add", "out"]
    instance = blocked.graph.node_by_name("enc").id
    assert list(blocked.state) == [f"{instance}.0.{inner.node_by_name('expand').id}/value"]
    assert analyse(blocked.graph).is_valid


def test_a_variant_is_the_larger_structure_with_units_passing_their_input_through() -> None:
    # x -> shortcut -> add.in2, x -> conv -> add.in1, add -> out; the variant reads x straight into add.in2
    larger = ["Shortcut", "Conv2d", "Add"]
    wiring = [(("in", 0), "out", ("unit", 0), "in"), (("in", 0), "out", ("unit", 1), "in"), (("unit", 1), "out", ("unit", 2), "in1"), (("unit", 0), "out", ("unit", 2), "in2"), (("unit", 2), "out", ("out", 0), "in")]
    smaller = ["Conv2d", "Add"]
    variant = [(("in", 0), "out", ("unit", 0), "in"), (("unit", 0), "out", ("unit", 1), "in1"), (("in", 0), "out", ("unit", 1), "in2"), (("unit", 1), "out", ("out", 0), "in")]
    assert left_out(larger, wiring, smaller, variant, ["in", "in", "in1"]) == (0,)
    crossed = [(("in", 0), "out", ("unit", 0), "in"), (("unit", 0), "out", ("unit", 1), "in2"), (("in", 0), "out", ("unit", 1), "in1"), (("unit", 1), "out", ("out", 0), "in")]
    assert left_out(larger, wiring, smaller, crossed, ["in", "in", "in1"]) is None  # the ports differ: another network
    assert left_out(larger, wiring, smaller, variant, [None, "in", "in1"]) is None  # a unit of no inputs cannot pass one through


@pytest.mark.parametrize("name", sorted(mm.IMAGE_MODELS))
def test_nested_and_wrapping_modules_import_as_blocks_that_compute_the_same(name: str, tmp_path: Path) -> None:
    make, size = mm.IMAGE_MODELS[name]
    torch.manual_seed(0)
    path = om.export_torch(mm.randomized(make()), torch.randn(2, *size), tmp_path / f"{name}.onnx", 13)
    model = import_onnx(path)
    assert model.warnings == [] and len(model.project.blocks) > 0  # not kept flat (ConvMixer's residual wraps a body like the block around it)
    om.assert_matches_onnxruntime(path, model)


def test_layer_studios_own_export_of_a_network_of_blocks_opens_with_blocks(tmp_path: Path) -> None:
    from studio.codegen.onnx_export import onnx_bytes

    project = load_project(Path(__file__).parents[2] / "assets" / "examples" / "resnet18_blocks.lstudio")
    path = tmp_path / "resnet18.onnx"
    path.write_bytes(onnx_bytes(project, build_torch_model(generate_pytorch(project), 0)))
    imported = import_onnx(path)
    graph = imported.project.graph
    assert len(graph) <= TOP_LEVEL_MOST and len(imported.project.blocks) >= 1
    assert analyse(graph).summary().trainable_params == analyse(project.graph).summary().trainable_params == 11_689_512
