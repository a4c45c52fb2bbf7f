"""Every example project trains one epoch on the built-in dataset its settings name, without error.

The built-in is loaded and checked against the network exactly as a run does; the epoch itself
runs on the first 96 samples (saved as an .npz, or as a .txt for a text) so the whole check stays
quick on two cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.graph.project import load_project, project_to_dict
from studio.graph.shapes import analyse
from studio.train.dataset_record import LANGUAGE_MODELLING
from studio.train.datasets import builtin_names, check_fits, load_dataset
from studio.train.engine import NoControl, TrainRequest, run_training
from studio.train.plan import token_tables
from studio.train.text_data import decode

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "assets" / "examples").glob("*.lstudio"))
SAMPLES = 96
HEADS = {"resnet18_blocks": ("fc", 10)}  # ImageNet's 1000-class head, cut to the digits' 10 as the example's description says
# Images smaller than ImageNet's keep one epoch of ResNet-18 on two CPU cores to seconds; the network is the same.
IMAGES = {"resnet18_blocks": ("image", (3, 64, 64))}


def network_io(project):
    analysis = analyse(project.graph)
    graph = project.graph
    source = next(n for n in graph.nodes.values() if n.type == "Input")
    sink = next(n for n in graph.nodes.values() if n.type == "Output")
    input_shape = analysis.result(source.id).outputs["out"][1:]
    output_shape = analysis.result(sink.id).inputs[0][1:]
    return source, input_shape, output_shape


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_trains_one_epoch_on_its_builtin_dataset(path: Path, tmp_path: Path) -> None:
    project = load_project(path)
    if path.stem in HEADS:
        layer, classes = HEADS[path.stem]
        assert "out_features to 10" in project.description
        project.graph.set_param(project.graph.node_by_name(layer).id, "out_features", classes)
    if path.stem in IMAGES:
        name, shape = IMAGES[path.stem]
        project.graph.set_param(project.graph.node_by_name(name).id, "shape", shape)
    settings = project.training
    assert settings.dataset in builtin_names(), f"{path.name} should train on a built-in dataset"
    source, input_shape, output_shape = network_io(project)
    dtype = source.params.get("dtype", "float32")
    data = load_dataset(settings.dataset, input_shape=input_shape, target=settings.target, seed=0, input_dtype=dtype)
    check_fits(data, input_shape, output_shape, settings.loss, input_dtype=dtype, tables=token_tables(project))
    if data.task == LANGUAGE_MODELLING:  # the text the first windows cut, and the character after them
        subset = tmp_path / "subset.txt"
        subset.write_text(decode([*data.x[:SAMPLES].ravel(), data.y[SAMPLES - 1, -1]], data.classes), encoding="utf-8")
    else:
        subset = tmp_path / "subset.npz"
        np.savez(subset, x=data.x[:SAMPLES], y=data.x[:SAMPLES] if settings.target == "input" else data.y[:SAMPLES])
    events: list[dict] = []
    overrides = {"dataset": str(subset), "epochs": 1, "batch_size": 32, "device": "cpu"}
    request = TrainRequest(project_to_dict(project), None, overrides, str(tmp_path / "runs"))
    final = run_training(request, events.append, NoControl())
    assert final["kind"] == "done", final.get("message")
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert len(epochs) == 1 and np.isfinite(epochs[0]["train_loss"])
    assert (Path(final["run_dir"]) / "best.pt").is_file()
