"""What each layer does while the network learns: its activations and gradients, sampled on one training step now and then.

NOTE: speed rules (the trainer's throughput must not change measurably, benchmarks/trainer_overhead.py):
a probe runs on at most one step every PROBE_INTERVAL seconds; between probes no hook is
attached. On a probed step, forward hooks reduce each layer's output (its first PROBE_SAMPLES
samples; the spread in one pass, as the root of E[x²] - E[x]²) to three device scalars and
the gradients to one norm per layer, all kept on the device; `read` fetches them in one transfer.
Under torch.compile no forward hook is attached (a hook would recompile the graph), so only the
gradients are reported.

Decisions: statistics are kept for the layers that are modules of the generated model (every
layer with weights, and activations such as ReLU); functional layers (Add, Concat, a mean) have
none. A layer is flagged `dead` when at least DEAD_SHARE of its outputs are exactly zero on every
probe of an epoch, `exploding` when its gradient norm is not finite or above EXPLODING, and
`vanishing` when its gradient norm is below VANISHING while another layer's is above
VANISHING_PEER (so a converged network, whose gradients are all small, is not flagged).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

PROBE_INTERVAL = 0.25  # seconds between probed steps: a few updates a second at most
PROBE_SAMPLES = 8  # the activations of the batch's first samples are measured: enough for the figures, cheap on a wide layer
FIELDS = ("mean", "std", "zeros", "grad")  # per layer: activation mean and spread, share of exact zeros, gradient norm
DEAD_SHARE = 0.99
EXPLODING = 1e4
VANISHING = 1e-7
VANISHING_PEER = 1e-3


class LayerProbe:
    """Hooks on the generated model's layer modules, attached for one step at a time, and the figures they gathered."""

    def __init__(self, model: nn.Module, paths: dict[str, str], activations: bool = True, interval: float | None = None) -> None:
        self.layers = list(paths)  # layer ids (flattened node ids), in the model's order
        self.modules = [model.get_submodule(path) for path in paths.values()]
        self.params = [[p for p in m.parameters() if p.requires_grad] for m in self.modules]
        self.activations = activations
        self.interval = PROBE_INTERVAL if interval is None else interval
        self.due = 0.0
        self._handles: list[Any] = []
        self._outputs: dict[int, torch.Tensor] = {}
        self._pending: list[torch.Tensor] = []  # one (layers, FIELDS) tensor per probed step, still on the device

    def arm(self) -> None:
        """Attach the forward hooks for the coming step."""
        if self.activations:
            self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self.modules)]

    def _hook(self, index: int) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.numel():
                values = tensor.detach()[:PROBE_SAMPLES].float()
                mean, square = values.mean(), values.square().mean()
                spread = (square - mean * mean).clamp_min(0).sqrt()
                self._outputs[index] = torch.stack((mean, spread, (values == 0).float().mean()))

        return record

    @torch.no_grad()
    def finish(self, scaler: Any = None) -> None:
        """Detach the hooks and keep this step's figures (with fp16's GradScaler, the gradients unscaled)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        device = next((p.device for ps in self.params for p in ps), None)
        if device is None and not self._outputs:
            return
        device = device or next(iter(self._outputs.values())).device
        nan = torch.tensor(math.nan, device=device)
        scale = scaler._get_scale_async() if scaler is not None else None  # a device tensor: no sync
        scale = 1.0 if scale is None else scale
        rows = []
        for index, params in enumerate(self.params):
            grads = [p.grad for p in params if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).float() / scale if grads else nan
            acts = self._outputs.get(index)
            rows.append(torch.cat((acts.to(device) if acts is not None else nan.expand(3), norm.reshape(1))))
        self._outputs = {}
        self._pending.append(torch.stack(rows))
        self.due = time.perf_counter() + self.interval

    def read(self) -> list[dict[str, list[float | None]]]:
        """The probed steps' figures since the last read, one transfer: per step, layer id -> [mean, std, zeros, grad] (None where not measured)."""
        if not self._pending:
            return []
        values = torch.stack(self._pending).cpu().tolist()
        self._pending = []
        return [{layer: [None if math.isnan(v) else v for v in row] for layer, row in zip(self.layers, step, strict=True)} for step in values]


@dataclass
class LayerHistory:
    """Each epoch's layer figures (the mean over its probes), and the problems found in them with the epoch each began."""

    epochs: list[dict[str, list[float | None]]] = field(default_factory=list)
    flags: dict[tuple[str, str], int] = field(default_factory=dict)  # (layer, kind) -> first epoch
    _probes: list[dict[str, list[float | None]]] = field(default_factory=list)

    def add(self, probes: Iterable[dict[str, list[float | None]]]) -> None:
        """Keep probes of the epoch in progress."""
        self._probes.extend(probes)

    def end_epoch(self, epoch: int) -> list[dict[str, Any]]:
        """Close the epoch: its summary, and the problems that began in it (layer, kind, epoch)."""
        probes, self._probes = self._probes, []
        summary = {layer: [_mean(p[layer][i] for p in probes) for i in range(len(FIELDS))] for layer in (probes[0] if probes else {})}
        self.epochs.append(summary)
        started = []
        for key in sorted(_problems(probes)):
            if key not in self.flags:
                self.flags[key] = epoch
                started.append({"layer": key[0], "kind": key[1], "epoch": epoch})
        return started

    def record(self) -> dict[str, Any]:
        """The history as the run folder keeps it (layer_stats.json)."""
        return {
            "fields": list(FIELDS),
            "epochs": self.epochs,
            "flags": [{"layer": layer, "kind": kind, "epoch": epoch} for (layer, kind), epoch in self.flags.items()],
        }


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _problems(probes: list[dict[str, list[float | None]]]) -> set[tuple[str, str]]:
    """(layer, kind) of each layer dead or vanishing on every probe of an epoch, or exploding on any."""
    found: set[tuple[str, str]] = set()
    if not probes:
        return found
    vanishing: set[str] | None = None
    for probe in probes:
        grads = {layer: row[3] for layer, row in probe.items() if row[3] is not None}
        peak = max((g for g in grads.values() if math.isfinite(g)), default=0.0)
        found |= {(layer, "exploding") for layer, grad in grads.items() if not math.isfinite(grad) or grad > EXPLODING}
        small = {layer for layer, grad in grads.items() if grad < VANISHING and peak > VANISHING_PEER}
        vanishing = small if vanishing is None else vanishing & small
    found |= {(layer, "vanishing") for layer in vanishing or ()}
    for layer in probes[0]:
        if all(p[layer][2] is not None and p[layer][2] >= DEAD_SHARE for p in probes):
            found.add((layer, "dead"))
    return found
