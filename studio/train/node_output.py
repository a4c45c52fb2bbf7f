"""What one layer computes for one sample: the tensor on its first output port, and an attention layer's weights.

NOTE: how a layer's output is reached. The generated PyTorch model of the project (built once per
project revision, with the project's weights; layers they do not fit keep their seeded start and
are named in the result) runs the sample once with a forward hook on every layer module, so
clicking through the layers of one sample runs the network once. A layer that is no module
(Add, Concat, a mean), or whose module returns more than its port's tensor, is reached through a
copy of the project with one more Output fed by that port: the last value its model returns is
the tensor (the probe gets the base model's weights; its module names are the same). A layer
inside a block instance is reached by its flattened id (`n6.0.n2`) on the flattened network.

Attention weights are computed again from the layer's own `nn.MultiheadAttention` on the
inputs it received (seen by the forward hook), called with `need_weights=True` and
`average_attn_weights=False`: the generated code asks for no weights, and a transformer layer in
eval mode may take PyTorch's fused path, which never calls its attention module at all.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.codegen.export import (
    WeightsError,
    build_torch_model,
    check_network_size,
    load_weights,
)
from studio.codegen.names import CodegenError
from studio.codegen.pytorch import generate_pytorch, module_names
from studio.graph.catalogue.base import SHARED, Folded
from studio.graph.flatten import flat_project
from studio.graph.model import GraphError
from studio.graph.project import (
    Project,
    dumps_project,
    project_from_dict,
    project_to_dict,
    trained_weights,
)
from studio.graph.shapes import snapshot_analysis
from studio.train import datasets, text_data

ATTENTION_TYPES = ("MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer")
PROBE_NAME = "layer_output_probe"
CACHED_REVISIONS = 2  # projects whose model and data stay built (the one shown and the one before an edit)
CACHED_PROBES = 8  # probe models kept per revision: clicking back and forth through functional layers rebuilds none
CACHED_SAMPLES = 4  # samples whose every module output is kept
FIT_SAMPLES = 512  # training samples a never-trained network's standardization is measured on, when they must be resized


class NodeOutputError(Exception):
    """A layer's output that cannot be computed; the message says why and what to do."""


@dataclass
class NodeOutput:
    """One layer's output for one sample (the batch dimension dropped), and where its numbers came from."""

    node: str  # the node id asked for
    name: str  # its name
    values: np.ndarray
    attention: np.ndarray | None = None  # (heads, queries, keys) for an attention layer
    trained: bool = False  # False: the seeded, untrained network (the project has no weights)
    fresh: list[str] = field(default_factory=list)  # layers the weights did not fit, left at their seeded start
    classes: tuple[str, ...] = ()  # the dataset's class names (for the network's output)
    label: str = ""  # the sample's target, as people read it
    sample: int | None = None  # the dataset index shown
    samples: int = 0  # how many samples the dataset holds


@dataclass
class _Revision:
    """What one project revision needs built once: the project as run (and flattened), the data, the weights."""

    project: Project
    flat: Project
    dataset: datasets.Dataset | None
    weights: Path | None
    bases: dict[bool, tuple[nn.Module, list[str], dict[str, str]]] = field(default_factory=dict)  # flat? -> (model, fresh, module paths)
    probes: OrderedDict[str, nn.Module] = field(default_factory=OrderedDict)
    passes: OrderedDict[tuple[bool, Any], dict[str, tuple[np.ndarray | None, np.ndarray | None]]] = field(default_factory=OrderedDict)

    def base(self, flat: bool) -> tuple[nn.Module, list[str], dict[str, str]]:
        """The weighted model of the network (flattened or as it is), the layers the weights did not fit, and its module paths."""
        if flat not in self.bases:
            project = self.flat if flat else self.project
            try:
                check_network_size(project)
                base = build_torch_model(generate_pytorch(project), project.training.seed, "model.py")
            except (CodegenError, WeightsError) as err:
                raise NodeOutputError(f"the network cannot run yet: {err}") from None
            fresh: list[str] = []
            if self.weights is not None:
                try:
                    fresh = load_weights(base, self.weights, project, partial=True)
                except WeightsError as err:
                    raise NodeOutputError(f"the project's weights cannot be used: {err}") from None
            self.bases[flat] = (base, fresh, module_names(project))
        return self.bases[flat]


_lock = threading.Lock()
_cache: OrderedDict[str, _Revision] = OrderedDict()


def node_output(project: Project, project_path: str | os.PathLike[str] | None, node_id: str, sample: int | np.ndarray) -> NodeOutput:
    """The output of node `node_id` for `sample` (an index into the project's dataset, or one sample's array).

    The sample goes through the Input's standardization as in training: the mean and std the
    Input holds, or, for a network never trained, those of the training split.

    Raises:
        NodeOutputError: unknown node, a network with errors, data or weights that cannot be used.
    """
    with _lock:
        revision = _revision(project, project_path)
        flat = node_id not in revision.project.graph
        network = revision.flat if flat else revision.project
        if node_id not in network.graph:
            raise NodeOutputError(f"the project has no layer with id {node_id!r}")
        node = network.graph.node(node_id)
        source_id, port = _source(network, node_id)
        base, fresh, paths = revision.base(flat)
        x, label, index = _sample(revision, sample)
        key = (flat, index if index is not None else hashlib.sha1(x.numpy().tobytes()).hexdigest())
        if key not in revision.passes:  # every module's output for this sample, in one pass
            revision.passes[key] = _module_outputs(base, x, {n: paths[n] for n in network.graph.nodes if n in paths}, network)
            while len(revision.passes) > CACHED_SAMPLES:
                revision.passes.popitem(last=False)
        revision.passes.move_to_end(key)
        value, attention = revision.passes[key].get(source_id, (None, None))
        if value is None:  # a functional layer, or a module whose output is not the port's tensor
            model = _probe(revision, network, base, source_id, port)
            with torch.no_grad():
                result = _forward(model, x)
            last = result[-1] if isinstance(result, (tuple, list)) else result
            value = _first(last)
    return NodeOutput(
        node_id,
        node.name,
        value,
        attention,
        revision.weights is not None,
        list(fresh),
        revision.dataset.classes if revision.dataset is not None else (),
        label,
        index,
        len(revision.dataset) if revision.dataset is not None else 0,
    )


def _module_outputs(model: nn.Module, x: torch.Tensor, paths: dict[str, str], network: Project) -> dict[str, tuple[np.ndarray | None, np.ndarray | None]]:
    """Per layer id, the first sample's output of its module (None where it is not one tensor) and its attention weights."""
    seen: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}

    def hook(node_id: str, attention: bool) -> Any:
        def keep(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
            if node_id in seen:  # computing the weights calls the attention module again
                return
            value = output[0] if attention and isinstance(output, tuple) else output  # MultiheadAttention: (output, weights)
            seen[node_id] = (_first(value) if isinstance(value, torch.Tensor) else None, None)
            if attention:
                seen[node_id] = (seen[node_id][0], attention_weights(module, args, kwargs)[0].float().numpy())

        return keep

    handles = [
        model.get_submodule(path).register_forward_hook(hook(node_id, network.graph.node(node_id).type in ATTENTION_TYPES), with_kwargs=True)
        for node_id, path in paths.items()
    ]
    try:
        with torch.no_grad():
            _forward(model, x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _forward(model: nn.Module, x: torch.Tensor) -> Any:
    try:
        return model(x)
    except RuntimeError as err:
        raise NodeOutputError(f"the network fails on this sample: {_first_line(err)}") from None


def _first(value: torch.Tensor) -> np.ndarray:
    """The first sample of a batch, as numpy (floats as float32)."""
    first = value.detach()[0]
    return first.float().numpy() if first.is_floating_point() else first.numpy()


def clear_cache() -> None:
    """Forget every built model and dataset (the weights file or data changed on disk)."""
    with _lock:
        _cache.clear()


# ----- one revision: data, weights -----


def _revision(project: Project, project_path: str | os.PathLike[str] | None) -> _Revision:
    weights = trained_weights(project, project_path)
    stamp = _stamp(weights)
    key = hashlib.sha1("\0".join((dumps_project(project), str(project_path or ""), str(weights or ""), stamp)).encode()).hexdigest()
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    copy = project_from_dict(project_to_dict(project))
    dataset = _dataset(copy, project_path)
    if not _input_node(copy).params.get("mean") and weights is None and dataset is not None and not dataset.token_ids:
        copy = _standardized(copy, dataset)
    revision = _Revision(copy, flat_project(copy), dataset, weights)
    _cache[key] = revision
    while len(_cache) > CACHED_REVISIONS:
        _cache.popitem(last=False)
    return revision


def _stamp(path: Path | None) -> str:
    """The weights file's size and time, so retraining (a new file at the same path) is noticed."""
    if path is None:
        return ""
    try:
        info = path.stat()
    except OSError:
        return "missing"
    return f"{info.st_size}:{info.st_mtime_ns}"


def _input_node(project: Project) -> Any:
    inputs = [node for node in project.graph.nodes.values() if node.type == "Input"]
    if len(inputs) != 1:
        raise NodeOutputError(f"a layer's output is shown for networks with exactly one Input; this one has {len(inputs)}")
    return inputs[0]


def _dataset(project: Project, project_path: str | os.PathLike[str] | None) -> datasets.Dataset | None:
    """The project's dataset as the dataset preview numbers its samples, or None when none is chosen.

    Samples are adapted to the Input one at a time (`_adapted`): resizing a whole image set to a
    large Input would take minutes. A built-in generator whose samples only the Input's shape
    makes fit is loaded at that shape.
    """
    settings = project.training
    if not settings.dataset.strip():
        return None
    node = _input_node(project)
    shape, dtype = tuple(int(d) for d in node.params["shape"]), str(node.params["dtype"])
    base_dir = Path(project_path).parent if project_path else None
    try:
        plain = None if not text_data.wants_text(shape, dtype) else shape
        dataset = datasets.load_dataset(settings.dataset, input_shape=plain, target=settings.target, base_dir=base_dir, seed=settings.seed, input_dtype=dtype)
        if len(dataset) and _adapted(dataset, [0], shape).shape[1:] != shape:
            dataset = datasets.load_dataset(settings.dataset, input_shape=shape, target=settings.target, base_dir=base_dir, seed=settings.seed, input_dtype=dtype)
    except datasets.DatasetError as err:
        raise NodeOutputError(str(err)) from None
    return dataset


def _adapted(dataset: datasets.Dataset, indices: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """The samples at `indices` fitted to the Input's shape, as training feeds them."""
    return datasets.fit_to_input(dataset.subset(np.asarray(indices)), shape).x


def _standardized(project: Project, dataset: datasets.Dataset) -> Project:
    """The project whose Input standardizes as a first training run would: with statistics of its training split.

    NOTE: samples the Input takes as they are give the trainer's own statistics; samples it resizes
    or converts are measured on the split's first FIT_SAMPLES only (adapting them all can take
    minutes). A trained network never gets here: its Input holds the statistics its run used.
    """
    train, _ = datasets.split(dataset, project.training.validation_split, project.training.seed)
    shape = tuple(int(d) for d in _input_node(project).params["shape"])
    if train.sample_shape != shape:
        chosen = train.subset(np.arange(min(len(train), FIT_SAMPLES)))
        train = replace(chosen, x=_adapted(chosen, list(range(len(chosen))), shape))
    return datasets.with_standardization(project, datasets.Normalizer.fit(train))


def _sample(revision: _Revision, sample: int | np.ndarray) -> tuple[torch.Tensor, str, int | None]:
    """The sample as a batch of one, its target's text, and its index."""
    node = _input_node(revision.project)
    shape = tuple(int(d) for d in node.params["shape"])
    if isinstance(sample, (int, np.integer)):
        data = revision.dataset
        if data is None:
            raise NodeOutputError("the project has no dataset: choose one in the Training panel to pick a sample")
        if not 0 <= int(sample) < len(data):
            raise NodeOutputError(f"sample {int(sample)} is not in '{data.name}': pick one from 0 to {len(data) - 1}")
        array, label, index = _adapted(data, [int(sample)], shape)[0], _label(data, int(sample)), int(sample)
    else:
        array, label, index = np.asarray(sample), "", None
    if tuple(array.shape) != shape:
        raise NodeOutputError(f"the sample has shape {tuple(array.shape)} but the Input '{node.name}' takes {shape}")
    dtype = torch.int64 if str(node.params["dtype"]) == "int64" else torch.float32
    return torch.as_tensor(np.ascontiguousarray(array)[None]).to(dtype), label, index


def _label(data: datasets.Dataset, index: int) -> str:
    if data.reconstruction:
        return "itself"
    if data.task == "classification" and data.classes:
        return str(data.classes[int(data.y[index])])
    if data.task == "classification":
        return str(int(data.y[index]))
    return ""


# ----- one node: the probe model -----


def _source(network: Project, node_id: str) -> tuple[str, str]:
    """The layer and output port whose tensor `node_id` shows: its own first output, or what feeds an Output."""
    node = network.graph.node(node_id)
    if node.type == "Output":
        edge = next(iter(network.graph.in_edges(node_id)), None)
        if edge is None:
            raise NodeOutputError(f"the Output '{node.name}' is not connected: wire a layer into it")
        return edge.src, edge.src_port
    port = next(iter(p.name for p in node.spec.output_ports(node.params)), None)
    if port is None:
        raise NodeOutputError(f"{node.type} '{node.name}' has no output to show")
    return node_id, port


def _probe(revision: _Revision, network: Project, base: nn.Module, source_id: str, port: str) -> nn.Module:
    """A model that also returns the tensor on `source_id`'s `port`, last (kept for the revision), with the base's weights."""
    key = f"{source_id}:{port}"
    if key in revision.probes:
        revision.probes.move_to_end(key)
        return revision.probes[key]
    copy = project_from_dict(project_to_dict(network))
    graph = copy.graph
    try:
        probe = graph.add_node("Output", name=graph.unique_name(PROBE_NAME))
        graph.connect(source_id, port, probe.id, "in")
        model = build_torch_model(generate_pytorch(copy), copy.training.seed, "probe.py")
    except (CodegenError, GraphError) as err:
        raise NodeOutputError(_why_not(network, source_id, port, err)) from None
    model.load_state_dict(base.state_dict())
    revision.probes[key] = model
    while len(revision.probes) > CACHED_PROBES:
        revision.probes.popitem(last=False)
    return model


def _why_not(network: Project, source_id: str, port: str, err: Exception) -> str:
    """Why a layer's tensor cannot be returned per sample: its batch is shared or folded, or the network has errors."""
    node = network.graph.node(source_id)
    result = snapshot_analysis(network.graph).result(source_id)
    shape = (result.outputs or {}).get(port)
    batch = shape[0] if shape else None
    if isinstance(batch, Folded):
        return f"{node.type} '{node.name}' holds {int(batch)} rows per sample (the batch folded with another dimension): pick the layer that unfolds it"
    if batch == SHARED:
        return f"{node.type} '{node.name}' holds one tensor that every sample shares, not an output per sample: pick a layer it feeds"
    return f"the output of {node.type} '{node.name}' cannot be shown: {_first_line(err)}"


def attention_weights(layer: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """Per-head attention weights (N, heads, queries, keys) of an attention or transformer layer called with `args`.

    A transformer layer's weights are those of its self-attention, on the input as that
    sublayer sees it (after the first norm when `norm_first`), with the layer's mask.
    """
    if isinstance(layer, nn.MultiheadAttention):
        query, key, value = (list(args) + [None, None, None])[:3]
        key = kwargs.get("key", key) if key is not None or "key" in kwargs else query
        value = kwargs.get("value", value) if value is not None or "value" in kwargs else key
        options = {k: v for k, v in kwargs.items() if k in ("key_padding_mask", "attn_mask", "is_causal")}
        _, weights = layer(query, key, value, need_weights=True, average_attn_weights=False, **options)
        return weights
    if isinstance(layer, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        x = args[0] if args else kwargs.get("src", kwargs.get("tgt"))
        seen = layer.norm1(x) if layer.norm_first else x
        is_encoder = isinstance(layer, nn.TransformerEncoderLayer)
        mask = kwargs.get("src_mask" if is_encoder else "tgt_mask")
        causal = bool(kwargs.get("is_causal" if is_encoder else "tgt_is_causal", False))
        if causal and mask is None:
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        _, weights = layer.self_attn(seen, seen, seen, attn_mask=mask, need_weights=True, average_attn_weights=False)
        return weights
    raise NodeOutputError(f"{type(layer).__name__} holds no attention weights")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
