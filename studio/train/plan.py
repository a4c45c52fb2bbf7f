"""What a training run needs, worked out before anything trains: settings, device, data, model.

Every problem found here is a user's to fix (a bad setting, data that does not fit, a device
that is not there) and becomes a `TrainingFailed` whose message says what to do.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.codegen.export import (
    WeightsError,
    build_torch_model,
    check_network_size,
    load_weights,
)
from studio.codegen.names import CodegenError
from studio.codegen.pytorch import generate_pytorch
from studio.graph.model import Node
from studio.graph.params import ParamValueError
from studio.graph.project import (
    Project,
    ProjectFileError,
    TrainingSettings,
    project_from_dict,
    trained_weights,
)
from studio.graph.shapes import snapshot_analysis
from studio.train import datasets, recipe
from studio.train.checkpoint_fields import CheckpointError, read_last
from studio.train.loop import Split

DEVICE_DATA_SHARE = (
    0.5  # data stays on a GPU when it takes at most this share of its free memory
)
SETTING_NAMES = frozenset(f.name for f in fields(TrainingSettings))
RUN_OVERRIDES = (
    "resume",
)  # overrides that are not project settings: "resume" is a last.pt path


REASONS = (
    "project",
    "settings",
    "arguments",
    "data",
    "diverged",
    "out_of_memory",
    "model",
    "disk",
)


class TrainingFailed(Exception):
    """A run that cannot go on; the message tells the user what happened and what to do.

    `reason` says whose the problem is, one of REASONS: the project, its settings, the
    arguments of the run (resume, runs folder), the data; or, once training has started, a
    diverging loss, the GPU's memory, an error inside the model, or the disk.
    """

    def __init__(
        self,
        message: str,
        epoch: int | None = None,
        step: int | None = None,
        *,
        reason: str = "model",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.epoch = epoch
        self.step = step
        self.reason = reason


@dataclass
class Plan:
    """The prepared run: settings in force, the generated model on its device, the data as tensors."""

    project: Project  # as trained: its Input holds the mean and std the model standardizes with
    settings: TrainingSettings
    resume: Path | None
    source: str  # the generated PyTorch code the model was built from
    device: torch.device
    precision: str  # what is used: fp32 off CUDA, whatever the setting
    dataset: datasets.Dataset
    val_raw: datasets.Dataset  # validation samples as the dataset has them
    normalizer: datasets.Normalizer  # what the model's Input standardizes with
    train: Split
    val: Split | None
    model: torch.nn.Module


def available_devices() -> list[str]:
    """The devices this computer can train on, the CPU last."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then the CPU; a named device must be available."""
    devices = available_devices()
    if name == "auto":
        return torch.device(devices[0])
    if name not in devices:
        raise TrainingFailed(
            f"the device '{name}' is not available on this computer "
            f"(available: {', '.join(devices)}): choose one of those, or auto",
            reason="settings",
        )
    return torch.device(name)


def prepare(
    project_data: dict[str, Any], project_path: str | None, overrides: dict[str, Any]
) -> Plan:
    """Check everything and build the model and the data tensors; TrainingFailed says what is wrong."""
    try:
        project = project_from_dict(project_data, source=project_path or "<project>")
    except ProjectFileError as err:
        raise TrainingFailed(str(err), reason="project") from None
    settings, resume = resolve_settings(project, overrides)
    if resume is not None:
        try:
            read_last(resume, settings.epochs)  # before any data is read; checked again with the model it loads into
        except CheckpointError as err:
            raise TrainingFailed(str(err), reason="arguments") from None
    try:
        generate_pytorch(project)  # a network with errors is refused before any data is read
    except CodegenError as err:
        raise TrainingFailed(
            f"the network cannot be trained yet: {err}", reason="project"
        ) from None
    try:
        check_network_size(project)
    except WeightsError as err:
        raise TrainingFailed(str(err), reason="project") from None
    input_name, input_shape, input_dtype, output_name, output_shape = _model_io(project)
    device = resolve_device(settings.device)
    try:
        dataset = datasets.load_dataset(
            settings.dataset,
            input_shape=input_shape,
            target=settings.target,
            base_dir=Path(project_path).parent if project_path else None,
            seed=settings.seed,
            input_dtype=input_dtype,
        )
        datasets.check_fits(
            dataset,
            input_shape,
            output_shape,
            settings.loss,
            input_name=input_name,
            output_name=output_name,
            input_dtype=input_dtype,
            tables=token_tables(project),
        )
        train_raw, val_raw = datasets.split(
            dataset, settings.validation_split, settings.seed
        )
    except datasets.DatasetError as err:
        raise TrainingFailed(str(err), reason="data") from None
    normalizer = _standardization(project, settings, train_raw)
    project = datasets.with_standardization(project, normalizer)
    source = generate_pytorch(project)
    train = _tensors(_normalized_targets(train_raw, normalizer), settings.loss, output_shape)
    val = _tensors(_normalized_targets(val_raw, normalizer), settings.loss, output_shape)
    assert train is not None  # split() keeps at least one training sample
    _place([s for s in (train, val) if s is not None], device)
    try:
        model = build_torch_model(source, settings.seed, "model.py").to(device)
    except (RuntimeError, MemoryError, WeightsError) as err:
        raise TrainingFailed(
            f"the model cannot be built on {device.type}: {first_line(err)}",
            reason="project",
        ) from None
    if settings.init == "weights":
        _start_from_project_weights(model, project, project_path)
    precision = recipe.precision_on(settings.precision, device)
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise TrainingFailed(
            "this GPU does not support bf16: choose the precision fp16 or fp32",
            reason="settings",
        )
    return Plan(
        project,
        settings,
        resume,
        source,
        device,
        precision,
        dataset,
        val_raw,
        normalizer,
        train,
        val,
        model,
    )


def _start_from_project_weights(model: torch.nn.Module, project: Project, project_path: str | None) -> None:
    """Load the project's weights into `model` (init 'weights': fine-tuning); TrainingFailed says why not."""
    path = trained_weights(project, project_path)
    if path is None:
        raise TrainingFailed(
            "init is 'weights' but the project has no weights yet: import a model with its weights or train "
            "it once, or set init to 'seed'",
            reason="settings",
        )
    try:
        load_weights(model, path, project)
    except WeightsError as err:
        raise TrainingFailed(f"the project's weights cannot be used: {err}", reason="project") from None


def resolve_settings(
    project: Project, overrides: dict[str, Any]
) -> tuple[TrainingSettings, Path | None]:
    """The project's settings with the overrides (None: not given) applied and validated; the resume path."""
    unknown = sorted(set(overrides) - SETTING_NAMES - set(RUN_OVERRIDES))
    if unknown:
        valid = ", ".join(sorted(SETTING_NAMES | set(RUN_OVERRIDES)))
        raise TrainingFailed(
            f"unknown training setting {unknown[0]!r} (valid: {valid})",
            reason="settings",
        )
    chosen = {
        k: v for k, v in overrides.items() if k in SETTING_NAMES and v is not None
    }
    try:
        settings = TrainingSettings(**{**project.training.to_dict(), **chosen})
    except (ParamValueError, TypeError, ValueError) as err:
        raise TrainingFailed(f"training setting: {err}", reason="settings") from None
    resume = overrides.get("resume")
    return settings, Path(resume) if resume else None


def _model_io(
    project: Project,
) -> tuple[str, tuple[int, ...], str, str, tuple[int, ...]]:
    """(input name, input shape, input dtype, output name, output shape), without the batch."""
    graph = project.graph
    inputs = [node for node in graph.nodes.values() if node.type == "Input"]
    outputs = [
        node_id for node_id, node in graph.nodes.items() if node.type == "Output"
    ]
    if len(inputs) != 1:
        raise TrainingFailed(
            f"the trainer feeds networks with exactly one Input node; this one has {len(inputs)}: "
            "export the training script (layer-studio export --to script) to train it",
            reason="project",
        )
    fed = snapshot_analysis(graph).result(outputs[0]).inputs[0]
    if fed is None or any(d is None for d in fed[1:]):
        raise TrainingFailed(
            "the network's output shape is not known: fix the problems shown in the editor first",
            reason="project",
        )
    node = inputs[0]
    output_shape = tuple(int(d) for d in fed[1:])  # type: ignore[arg-type]
    input_shape = tuple(int(d) for d in node.params["shape"])
    return (
        node.name,
        input_shape,
        str(node.params["dtype"]),
        graph.nodes[outputs[0]].name,
        output_shape,
    )


def token_tables(project: Project) -> list[tuple[str, int]]:
    """(name, num_embeddings) of every Embedding the Input feeds directly: the token ids it can look up."""
    graph = project.graph
    inputs = {node_id for node_id, node in graph.nodes.items() if node.type == "Input"}
    return [
        (graph.nodes[edge.dst].name, int(graph.nodes[edge.dst].params["num_embeddings"]))
        for edge in graph.edges
        if edge.src in inputs and graph.nodes[edge.dst].type == "Embedding"
    ]


def _standardization(project: Project, settings: TrainingSettings, train: datasets.Dataset) -> datasets.Normalizer:
    """How the model standardizes its input: fitted to the training split, or the project's own when fine-tuning.

    Fine-tuning keeps the mean and std the weights were trained with (none, for an imported
    model that has none); a fresh start fits them anew, so they always describe this data.
    """
    if settings.init == "weights":
        node = _input_node(project)
        return datasets.Normalizer.from_values(node.params["mean"], node.params["std"], node.params["shape"])
    return datasets.Normalizer.fit(train)


def _input_node(project: Project) -> Node:
    return next(node for node in project.graph.nodes.values() if node.type == "Input")


def _normalized_targets(part: datasets.Dataset, normalizer: datasets.Normalizer) -> datasets.Dataset:
    """Samples stay as they are (the model standardizes them); reconstruction targets are standardized samples."""
    return replace(part, y=normalizer.normalize(part.x)) if part.reconstruction else part


def _tensors(
    part: datasets.Dataset, loss: str, output_shape: tuple[int, ...]
) -> Split | None:
    """A split's samples, the targets as the loss takes them, and class labels for accuracy."""
    if len(part) == 0:
        return None
    x = torch.from_numpy(np.ascontiguousarray(part.x))
    y = torch.from_numpy(
        np.ascontiguousarray(datasets.targets_for_loss(part, loss, output_shape))
    )
    classification = part.task in ("classification", datasets.LANGUAGE_MODELLING)
    labels = (
        torch.from_numpy(np.ascontiguousarray(part.y)).long()
        if classification
        else None
    )
    return Split(x, y, labels)


def _place(splits: list[Split], device: torch.device) -> None:
    """Move the data to the device, unless it would crowd a GPU's memory (then batches travel)."""
    if device.type == "cuda":
        tensors = [t for s in splits for t in (s.x, s.y, s.labels) if t is not None]
        free, _ = torch.cuda.mem_get_info(device)
        if (
            sum(t.numel() * t.element_size() for t in tensors)
            > DEVICE_DATA_SHARE * free
        ):
            return
    for s in splits:
        s.x, s.y = s.x.to(device), s.y.to(device)
        s.labels = s.labels.to(device) if s.labels is not None else None


def first_line(err: BaseException) -> str:
    """The first line of an error's message (torch errors run to many lines)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def versions() -> dict[str, str]:
    """Versions that decide what a run computes, for its config.json."""
    from importlib import metadata

    try:
        studio = metadata.version("layer-studio")
    except metadata.PackageNotFoundError:
        studio = "unknown"
    return {
        "layer_studio": studio,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
