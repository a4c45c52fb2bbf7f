"""Per-layer statistics of training: the probe's figures against PyTorch's own, the problems it flags, and the run's events and file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from studio.graph.project import load_project, project_to_dict
from studio.train import layer_stats
from studio.train.engine import NoControl, run_training
from studio.train.layer_stats import LayerHistory, LayerProbe
from studio.train.request import TrainRequest

ROOT = Path(__file__).resolve().parents[2]


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_a_probed_step_reports_what_pytorch_computes_and_leaves_no_hook() -> None:
    model = small_net()
    x, y = torch.randn(layer_stats.PROBE_SAMPLES, 1, 8, 8), torch.arange(layer_stats.PROBE_SAMPLES) % 3
    outputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o.detach())) for n, m in model.named_children()]
    probe = LayerProbe(model, {f"n{k}": str(k) for k in range(4)})
    probe.arm()
    nn.functional.cross_entropy(model(x), y).backward()
    probe.finish()
    for handle in handles:
        handle.remove()
    (figures,) = probe.read()
    for k in range(4):
        out = outputs[str(k)]
        mean, std, zeros, grad = figures[f"n{k}"]
        assert mean == pytest.approx(out.mean().item(), rel=1e-5, abs=1e-7)
        assert std == pytest.approx(out.std(unbiased=False).item(), rel=1e-4)
        assert zeros == pytest.approx((out == 0).float().mean().item())
        params = list(model[k].parameters())
        expected = math.sqrt(sum(p.grad.pow(2).sum().item() for p in params)) if params else None
        assert grad == (pytest.approx(expected, rel=1e-5) if params else None)
    assert all(not m._forward_hooks for m in model.modules()) and probe.read() == []


def test_without_activations_only_gradients_are_reported() -> None:
    model = small_net()
    probe = LayerProbe(model, {"n0": "0", "n1": "1"}, activations=False)
    probe.arm()
    model(torch.randn(2, 1, 8, 8)).sum().backward()
    probe.finish()
    (figures,) = probe.read()
    assert figures["n0"][:3] == [None, None, None] and figures["n0"][3] > 0 and figures["n1"] == [None] * 4


def probes(**layers: list[float | None]) -> dict[str, list[float | None]]:
    return dict(layers)


def test_problems_are_flagged_once_with_the_epoch_they_began() -> None:
    history = LayerHistory()
    healthy = probes(relu=[0.3, 0.5, 0.5, None], fc=[0.0, 1.0, 0.0, 0.5], head=[0.0, 1.0, 0.0, 0.4])
    history.add([healthy, healthy])
    assert history.end_epoch(1) == []
    dead = probes(relu=[0.0, 0.0, 1.0, None], fc=[0.0, 1.0, 0.0, 1e-9], head=[0.0, 1.0, 0.0, 0.4])
    history.add([dead, dead])
    assert history.end_epoch(2) == [{"layer": "fc", "kind": "vanishing", "epoch": 2}, {"layer": "relu", "kind": "dead", "epoch": 2}]
    history.add([dead, probes(relu=[0.0, 0.0, 1.0, None], fc=[0.0, 1.0, 0.0, 1e-9], head=[0.0, 1.0, 0.0, math.inf])])
    assert history.end_epoch(3) == [{"layer": "head", "kind": "exploding", "epoch": 3}]
    record = history.record()
    assert len(record["epochs"]) == 3 and {(f["layer"], f["epoch"]) for f in record["flags"]} == {("fc", 2), ("relu", 2), ("head", 3)}
    assert record["epochs"][0]["fc"][3] == pytest.approx(0.5)


def test_a_converged_network_and_a_brief_zero_are_not_problems() -> None:
    history = LayerHistory()
    history.add([probes(a=[0.0, 0.0, 1.0, 1e-9], b=[0.1, 0.1, 0.0, 1e-8]), probes(a=[0.1, 0.1, 0.5, 1e-9], b=[0.1, 0.1, 0.0, 1e-8])])
    assert history.end_epoch(1) == []  # all gradients small: converged, not vanishing; zeros on one probe only


def test_training_sends_layer_figures_and_keeps_them_in_the_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layer_stats, "PROBE_INTERVAL", 0.0)  # every step probed: the figures come at every tick
    project = load_project(ROOT / "assets/examples/digits_cnn.lstudio")
    events: list[dict[str, Any]] = []
    done = run_training(TrainRequest(project_to_dict(project), None, {"epochs": 2}, str(tmp_path)), events.append, NoControl())
    assert done["kind"] == "done"
    start = next(e for e in events if e["kind"] == "start")
    assert start["layers"]["n2"] == "conv1" and set(start["layers"]) == {"n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10", "n11"}
    live = [e for e in events if e["kind"] == "layers"]
    assert live and set(live[-1]["layers"]) == set(start["layers"])
    assert live[-1]["layers"]["n3"][2] > 0  # a ReLU zeroes some of its outputs
    summaries = [e for e in events if e["kind"] == "layer_epoch"]
    assert [e["epoch"] for e in summaries] == [1, 2]
    kept = json.loads((Path(done["run_dir"]) / "layer_stats.json").read_text())
    assert kept["fields"] == ["mean", "std", "zeros", "grad"] and kept["epochs"] == [e["layers"] for e in summaries]
    assert kept["layers"] == start["layers"]
