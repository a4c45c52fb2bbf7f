"""A network of blocks exports as classes (PyTorch) and functions (Keras), flattened to ONNX, with the same numbers everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from studio.codegen.export import build_torch_model, export_project, load_weights
from studio.codegen.keras import generate_keras
from studio.codegen.names import CodegenError
from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.pytorch import generate_pytorch, module_names
from studio.codegen.script import generate_script
from studio.codegen.weights import (
    by_attribute,
    by_node,
    declared_state,
    project_weights_bytes,
)
from studio.graph.blocks import BlockLibrary
from studio.graph.flatten import flat_project
from studio.graph.model import Graph
from studio.graph.project import Project, load_project, project_to_dict, save_project
from studio.train.engine import NoControl, TrainRequest, run_training
from tests.codegen import block_cases as bc
from tests.codegen.cases import random_inputs
from tests.codegen.helpers import (
    assert_keras_parity,
    assert_ruff_clean,
    ruff_executable,
)
from tests.codegen.onnx_checks import assert_matches_torch, randomized
from tests.graph import block_graphs as bg

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras reading torch tensors

CASES: dict[str, Callable[[], Project]] = {
    "small_resnet": bc.small_resnet,
    "stacked": bc.stacked,
    "nested": bc.nested,
    "two_way": bc.two_way,
    "stages_resnet18": lambda: bc.stages_resnet18(size=32, classes=10),
    "cuts": bc.cuts,
    "assorted": bc.assorted,
    "encoder_stack": bc.encoder_stack,
}
HERE = Path(__file__).resolve().parent
KERAS_CASES = ["small_resnet", "stacked", "nested", "two_way", "cuts", "assorted", "encoder_stack"]


def resnet(classes: int = 10) -> Project:
    return Project("resnet_blocks", bg.resnet18(size=32, classes=classes))


def outputs(model: torch.nn.Module, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        found = model.eval()(*xs)
    return list(found) if isinstance(found, tuple) else [found]


# ----- PyTorch -----
def test_resnet18_of_basic_blocks_is_a_basic_block_class_with_torchvisions_parameters() -> None:
    project = resnet(classes=1000)
    source = generate_pytorch(project)
    assert "class BasicBlock(nn.Module):" in source and source.count("class BasicBlock") == 1
    assert "self.layer2_0 = BasicBlock(64, channels=128, stride=2, downsample=True)" in source
    model = build_torch_model(source, seed=0)
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's resnet18
    keys = set(model.state_dict())
    assert {"layer2_0.down_conv.weight", "layer2_0.conv1.weight", "layer4_1.bn2.running_var"} <= keys
    assert not any(key.startswith("layer2_1.down_") for key in keys)  # switched off: an identity shortcut


@pytest.mark.parametrize("name", CASES)
def test_block_classes_compute_what_the_flattened_layers_do(name: str) -> None:
    project = CASES[name]()
    model = randomized(project)
    flat = flat_project(project)
    assert flat is not project
    plain = build_torch_model(generate_pytorch(flat), seed=1)
    plain.load_state_dict(by_attribute(by_node(model.state_dict(), project), flat))  # every weight, by layer id
    xs = random_inputs(project.graph, 3)
    for got, expected in zip(outputs(model, xs), outputs(plain, xs), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_weights_are_keyed_by_the_flattened_layer_and_declared_as_the_model_holds_them(name: str) -> None:
    project = CASES[name]()
    state = build_torch_model(generate_pytorch(project), seed=0).state_dict()
    declared = declared_state(project)
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(t.shape) for k, t in declared.items()}
    keyed = by_node(state, project)
    flat_ids = set(flat_project(project).graph.nodes)
    assert {key.split("/")[0] for key in keyed} <= flat_ids
    assert by_attribute(keyed, project) == state
    assert set(module_names(project)) <= flat_ids


def test_a_switch_on_in_one_instance_and_off_in_another_is_a_flag() -> None:
    source = generate_pytorch(bc.small_resnet())
    assert source.count("class BasicBlock") == 1
    assert "        if downsample:\n            self.down_conv = nn.Conv2d(\n                in_channels, channels," in source
    assert "        if self.down_conv is not None:\n" in source
    assert "        else:\n            down_bn = x\n" in source
    assert "self.b = BasicBlock(8, channels=16, stride=2, downsample=True)" in source


def test_repeats_are_sequential_and_their_keys_count_the_runs() -> None:
    project = bc.stacked()
    source = generate_pytorch(project)
    assert "self.stack = nn.Sequential(*(MLP(hidden=12) for _ in range(3)))" in source
    assert "def __init__(self, hidden: int = 16) -> None:" in source and "self.last = MLP()" in source
    state = build_torch_model(source, seed=0).state_dict()
    assert "stack.2.up.weight" in state and state["stack.2.up.weight"].shape == (12, 8)
    assert not torch.equal(state["stack.0.up.weight"], state["stack.1.up.weight"])  # each run its own weights


def test_nested_blocks_nest_their_classes_and_keys() -> None:
    project = bc.nested()
    source = generate_pytorch(project)
    assert source.index("class MLP(") < source.index("class Pair(") < source.index("class Nested(")
    assert "self.first = MLP(hidden=hidden)" in source and "self.second = MLP(hidden=4)" in source
    state = build_torch_model(source, seed=0).state_dict()
    assert state["pairs.1.first.up.weight"].shape == (6, 8) and state["pair.first.up.weight"].shape == (16, 8)
    assert state["pair.second.up.weight"].shape == (4, 8)


def test_a_block_of_two_inputs_and_outputs_loops_over_its_repeats() -> None:
    source = generate_pytorch(bc.two_way())
    assert "self.mixes = nn.ModuleList([Mix() for _ in range(3)])" in source
    assert "        for run in self.mixes:\n            mixes = run(*mixes)\n" in source
    assert "-> tuple[torch.Tensor, torch.Tensor]:" in source and "return squash, product" in source
    assert "torch.cat((mixes[0], once[1]), dim=1)" in source  # an instance's outputs are a tuple, by index


def test_uses_whose_code_differs_get_a_class_each_and_one_use_names_its_exposed_parameters() -> None:
    source = generate_pytorch(bc.cuts())
    assert "head = x[:, :, 0:4]" in source and "head = x[:, 0:4]" in source
    assert "self.first = Cut()" in source and "self.second = Cut2(width=3)" in source
    assert source.count("def __init__(self, width: int = 4) -> None:") == 2  # each used once: width found by trying another
    assert "self.fc = nn.Linear(4, width)" in source
    keras = generate_keras(bc.cuts())
    assert "def cut_block(x, name: str, width: int = 4):" in keras and "def cut_block2(" in keras


def test_switches_of_layers_without_modules_and_repeats_set_by_a_parameter() -> None:
    source = generate_pytorch(bc.assorted())
    assert "        self.residual = residual\n" in source and "        if self.residual:\n            skip = lin + x\n" in source
    assert "self.inner = nn.Sequential(*(Maybe() for _ in range(depth)))" in source
    assert "self.deep = Deep(depth=3)" in source
    assert "halves = rnn[1].split([4, 4], dim=1)" in source and "return rnn[0], halves[0]" in source
    keras = generate_keras(bc.assorted())
    assert 'm1 = maybe_block(widen, "m1_2")' in keras  # `m1_lin` is a layer of the network already
    assert "    for index in range(depth):\n" in keras


def test_an_exposed_parameter_a_target_cannot_follow_is_left_out_of_its_signature() -> None:
    project = bc.encoder_stack()
    source = generate_pytorch(project)
    assert "def __init__(self, heads: int = 4, ffn: int = 64) -> None:" in source
    assert "nn.MultiheadAttention(16, heads, batch_first=True)" in source
    assert "self.encoder = nn.Sequential(*(EncoderBlock() for _ in range(4)))" in source
    keras = generate_keras(project)  # Keras' key_dim is 16 / heads: no `heads` argument that would not change it
    assert "def encoder_block(x, name: str, ffn: int = 64):" in keras and "MultiHeadAttention(4, key_dim=4," in keras


def test_stage_blocks_give_torchvisions_state_dict_keys_and_load_its_weights() -> None:
    project = bc.stages_resnet18(size=32, classes=10)
    source = generate_pytorch(project)
    assert "class Stage(nn.Sequential):" in source and "class Downsample(nn.Sequential):" in source
    model = build_torch_model(source, seed=0)
    reference = bc.TorchvisionResNet18(classes=10)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert "layer1.0.conv1.weight" in ours and "layer2.0.downsample.0.weight" in ours
    torch.manual_seed(5)
    for value in reference.state_dict().values():
        if value.is_floating_point():
            value.copy_(torch.rand_like(value) + 0.5)
    model.load_state_dict(reference.state_dict())  # strict: every key and shape fits
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(outputs(model, [x])[0], outputs(reference, [x])[0], rtol=1e-4, atol=1e-4)


# ----- ONNX (flattened) -----
def test_resnet18_of_blocks_exports_to_onnx_with_pytorchs_numbers() -> None:
    project = resnet()
    model = randomized(project)
    assert sum(p.numel() for p in model.parameters()) == 11_181_642  # torchvision's resnet18 with a 10-class head
    data = onnx_bytes(project, model, opset=18)
    proto = onnx.load_from_string(data)
    assert len(proto.graph.node) > 40
    assert "layer2_0.down_conv.weight" in {t.name for t in proto.graph.initializer}  # flattened, named by path
    assert_matches_torch(data, project, model)


@pytest.mark.parametrize("name", ["two_way", "nested", "stages_resnet18", "cuts", "assorted", "encoder_stack"])
def test_other_networks_of_blocks_match_onnx_runtime(name: str) -> None:
    project = CASES[name]()
    model = randomized(project)
    assert_matches_torch(onnx_bytes(project, model, opset=18), project, model)


# ----- Keras -----
@pytest.mark.parametrize("name", KERAS_CASES)
def test_keras_functions_compute_what_pytorch_does(name: str, tmp_path: Path) -> None:
    assert_keras_parity(CASES[name](), tmp_path)


def test_keras_writes_a_function_per_block_with_prefixed_layer_names(tmp_path: Path) -> None:
    source = generate_keras(bc.small_resnet())
    assert "def basic_block(\n    x, name: str, channels: int = 64, stride: int = 1, downsample: bool = False\n):" in source
    assert 'name=f"{name}_conv1"' in source and "    if downsample:\n" in source
    assert 'b = basic_block(a, "b", channels=16, stride=2, downsample=True)' in source
    assert '    for index in range(2):\n        c = basic_block(c, f"c_{index}", channels=16)\n' in source
    stacked = generate_keras(bc.stacked())
    assert "def mlp_block(x, name: str, hidden: int = 16):" in stacked


def test_keras_lists_every_layer_it_cannot_express_inside_blocks_and_out() -> None:
    library = BlockLibrary()
    g = Graph()
    x = g.add_node("Input", "x", {"shape": (4, 8, 8)}).id
    bg.chain(g, x, ("MaxPool2d", "pool", {"kernel_size": 2, "dilation": 2}), ("Output", "y", {}))  # Keras pools undilated
    library.define("Pooling", g)
    top = bg.network(library, ("Pooling", "inside", {}), ("MaxPool2d", "outside", {"kernel_size": 2, "dilation": 2}), shape=(4, 8, 8))
    with pytest.raises(CodegenError) as caught:
        generate_keras(Project("pools", top))
    message = str(caught.value)
    assert "- outside: MaxPool2d:" in message and "- pool: MaxPool2d:" in message and "(inside block Pooling)" in message


# ----- the files -----
@pytest.mark.parametrize(("folder", "name"), [("golden", "resnet18_blocks"), ("golden", "stages_resnet18"), ("golden_keras", "small_resnet")])
def test_golden_source_of_blocks(folder: str, name: str) -> None:
    """What the code of a network of blocks looks like; UPDATE_GOLDEN=1 rewrites it."""
    project = resnet(classes=1000) if name == "resnet18_blocks" else CASES[name]()
    source = generate_keras(project) if folder == "golden_keras" else generate_pytorch(project)
    path = HERE / folder / f"{name}.py"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8")



def test_generated_code_of_blocks_is_ruff_and_black_clean(tmp_path: Path) -> None:
    ruff = ruff_executable()
    if ruff is None:
        pytest.skip("ruff is not installed (add it to the dev extras) so formatting cannot be checked")
    sources = {f"{name}_torch": generate_pytorch(make()) for name, make in CASES.items()}
    sources["resnet18_torch"] = generate_pytorch(resnet())
    sources |= {f"{name}_keras": generate_keras(CASES[name]()) for name in KERAS_CASES}
    assert_ruff_clean(ruff, sources, tmp_path)


def test_exports_of_a_saved_network_of_blocks_load_its_weights(tmp_path: Path) -> None:
    project = bc.small_resnet()
    save_project(project, tmp_path / "net.lstudio")
    project = load_project(tmp_path / "net.lstudio")
    state = randomized(project).state_dict()
    weights = tmp_path / "net.weights.npz"
    weights.write_bytes(project_weights_bytes(project, state))
    with np.load(weights) as archive:
        assert any(key.endswith(".0.n2/weight") for key in archive.files)  # an inner layer, by its flattened id
    result = export_project(project, "pytorch", tmp_path / "net.py", weights=weights)
    model = build_torch_model((tmp_path / "net.py").read_text(), seed=9)
    load_weights(model, result.files[1], project)
    for key, value in state.items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_the_training_script_carries_the_block_classes(tmp_path: Path) -> None:
    project = bc.block_classifier()
    script = generate_script(project)
    assert "class Residual(nn.Module):" in script and "nn.Sequential(*(Residual() for _ in range(2)))" in script
    path = tmp_path / "train.py"
    path.write_text(script, encoding="utf-8")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.standard_normal((24, 2)).astype(np.float32), y=rng.integers(0, 4, 24))
    args = [sys.executable, str(path), "--data", "data.npz", "--epochs", "1", "--batch-size", "8", "--out", "ck"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    best = torch.load(tmp_path / "ck" / "best.pt", weights_only=True)
    assert set(best) == set(declared_state(project))  # the trainer's keys: body.1.up.weight, ...


def test_a_network_of_blocks_trains_for_an_epoch_and_its_weights_load_back(tmp_path: Path) -> None:
    project = bc.block_classifier()
    events: list[dict] = []
    final = run_training(TrainRequest(project_to_dict(project), None, {}, str(tmp_path)), events.append, NoControl())
    assert final["kind"] == "done", final
    run = next(p for p in tmp_path.rglob("weights.npz")).parent
    source = (run / "model.py").read_text()
    assert "class Residual(nn.Module):" in source and "nn.Sequential(*(Residual() for _ in range(2)))" in source
    trained = load_project(run / "project.lstudio")
    best = build_torch_model(source, seed=1)
    load_weights(best, run / "best.pt", trained)
    again = build_torch_model(generate_pytorch(trained), seed=2)
    load_weights(again, run / "weights.npz", trained)  # keyed by layer id: body's layers are n3.0.n2, n3.1.n2, ...
    x = torch.randn(5, 2)
    torch.testing.assert_close(outputs(again, [x])[0], outputs(best, [x])[0])
