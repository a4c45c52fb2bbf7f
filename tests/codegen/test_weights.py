"""Weights keyed by node id: renaming a layer keeps its weights; format 1 files still load."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.codegen.export import (
    build_torch_model,
    export_project,
    load_weights,
    save_npz_weights,
)
from studio.codegen.pytorch import generate_pytorch, module_names
from studio.codegen.weights import (
    WeightsError,
    by_attribute,
    by_node,
    weights_to_rekey,
)
from studio.graph.project import load_project, save_project, trained_weights
from studio.graph.weights_file import keyed_by_node
from studio.interop.common import import_model, write_imported
from tests.interop import onnx_models as om

ROOT = Path(__file__).resolve().parents[2]
FORMAT1 = ROOT / "tests" / "data" / "format1"


def _state(path: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in torch.load(path, weights_only=True).items()}


def test_node_keys_round_trip_and_follow_a_rename() -> None:
    project = load_project(ROOT / "assets" / "examples" / "resnet_small.lstudio")
    state = build_torch_model(generate_pytorch(project), seed=3).state_dict()
    keyed = by_node(state, project)
    assert keyed_by_node(keyed) and not keyed_by_node(state)
    assert all(key.split("/")[0] in project.graph.nodes for key in keyed)
    assert by_attribute(keyed, project) == state
    node_id = next(n for n, attr in module_names(project).items() if attr == "stem")
    project.graph.rename(node_id, "first conv")
    renamed = by_attribute(keyed, project)
    assert "first_conv.weight" in renamed and "stem.weight" not in renamed
    model = build_torch_model(generate_pytorch(project), seed=4)
    model.load_state_dict(renamed)  # fits the renamed network exactly
    with pytest.raises(WeightsError, match="belong to no layer"):
        by_node({"nowhere.weight": 1}, project)


def test_an_imported_model_exports_its_weights_after_a_rename(tmp_path: Path) -> None:
    imported = import_model(om.save(om.padded_convolutions(), tmp_path / "convs.onnx"))
    out = tmp_path / "convs.lstudio"
    write_imported(imported, out)
    with np.load(tmp_path / "convs.weights.npz") as archive:
        assert keyed_by_node(archive.files)
    project = load_project(out)
    before = module_names(project)
    for node_id in before:
        project.graph.rename(node_id, f"renamed {project.graph.nodes[node_id].name}")
    save_project(project, out)
    project = load_project(out)
    export_project(project, "pytorch", tmp_path / "net.py", weights=trained_weights(project, out))
    exported = _state(tmp_path / "net.pt")
    after = module_names(project)
    assert set(before) == set(after)
    for key, value in imported.state.items():
        node_id, _, rest = key.partition("/")
        np.testing.assert_array_equal(exported[f"{after[node_id]}.{rest}"], value)


def test_weights_of_a_removed_layer_are_named_as_such(tmp_path: Path) -> None:
    project = load_project(ROOT / "assets" / "examples" / "mlp.lstudio")
    model = build_torch_model(generate_pytorch(project), seed=1)
    save_npz_weights(by_node(model.state_dict(), project), tmp_path / "w.npz")
    with pytest.raises(WeightsError, match="only together with its project"):
        load_weights(model, tmp_path / "w.npz")
    hidden, before, after = (project.graph.node_by_name(n) for n in ("hidden2", "relu1", "relu2"))
    assert hidden is not None and before is not None and after is not None
    project.graph.remove_node(hidden.id)
    project.graph.connect(before.id, "out", after.id, "in")
    smaller = build_torch_model(generate_pytorch(project), seed=1)
    with pytest.raises(WeightsError, match=rf"weight of a removed layer \(id {hidden.id}\)"):
        load_weights(smaller, tmp_path / "w.npz", project)


def test_a_format_1_project_exports_with_its_attribute_keyed_weights(tmp_path: Path) -> None:
    shutil.copytree(FORMAT1, tmp_path / "p")
    project = load_project(tmp_path / "p" / "mlp.lstudio")
    weights = trained_weights(project, tmp_path / "p" / "mlp.lstudio")
    export_project(project, "pytorch", tmp_path / "mlp.py", weights=weights)
    with np.load(weights) as stored:
        for key, value in _state(tmp_path / "mlp.pt").items():
            np.testing.assert_array_equal(value, stored[key])
    arrays = weights_to_rekey(project, tmp_path / "p" / "mlp.lstudio")
    assert arrays is not None and set(arrays) == set(by_node(dict.fromkeys(np.load(weights).files), project))
    save_npz_weights({k: torch.from_numpy(v) for k, v in arrays.items()}, weights)
    assert weights_to_rekey(project, tmp_path / "p" / "mlp.lstudio") is None  # keyed by node now


def test_a_one_element_count_from_an_older_file_loads_as_a_scalar(tmp_path: Path) -> None:
    project = load_project(ROOT / "assets" / "examples" / "resnet_small.lstudio")
    model = build_torch_model(generate_pytorch(project), seed=1)
    state = {k: v.reshape(1) if k.endswith("num_batches_tracked") else v for k, v in model.state_dict().items()}
    assert any(v.shape == (1,) for v in state.values())
    save_npz_weights(state, tmp_path / "old.npz")
    load_weights(build_torch_model(generate_pytorch(project), seed=2), tmp_path / "old.npz")
