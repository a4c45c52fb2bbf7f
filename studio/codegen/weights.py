"""A project's weights files keyed by node id, so renaming a layer never orphans its weights.

A state dict in memory is keyed as the generated PyTorch model has it (`conv1.weight`: the
layer's module path, then the parameter; `layer1_0.conv1.weight` inside a block instance). The project's own weights files (an import's
`<stem>.weights.npz`, a run's `weights.npz`) key the same arrays by the layer's stable node id
(`n3/weight`), and are mapped to the attribute names of the network as it is now only when they
are loaded. A file keyed by attribute (a run's `best.pt`, a user's own state dict, or a project
weights file written before format 2) loads while the names it was made from still hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from studio.codegen.pytorch import module_names
from studio.codegen.weights_reader import WeightsArchive, WeightsError, open_weights
from studio.graph.catalogue.base import StateTensor
from studio.graph.flatten import flatten
from studio.graph.project import Project, trained_weights
from studio.graph.weights_file import (
    SEPARATOR,
    declared_node_state,
    keyed_by_node,
    npz_bytes,
)
from studio.graph.weights_limit import WeightsLimitError, check_bytes, describe_bytes

if TYPE_CHECKING:
    import numpy as np
    import torch

_Value = TypeVar("_Value")


def by_node(state: Mapping[str, _Value], project: Project) -> dict[str, _Value]:
    """Re-key a state dict of `project`'s generated model by node id: `conv1.weight` -> `n3/weight`.

    Raises:
        WeightsError: a key belongs to no layer of the project's generated model.
    """
    owner = {path: node_id for node_id, path in module_names(project).items()}
    keyed: dict[str, _Value] = {}
    strays: list[str] = []
    for key, value in state.items():
        parts = key.split(".")
        cut = next((i for i in range(len(parts) - 1, 0, -1) if ".".join(parts[:i]) in owner), None)  # the longest module path
        if cut is None:
            strays.append(key)
            continue
        keyed[f"{owner['.'.join(parts[:cut])]}{SEPARATOR}{'.'.join(parts[cut:])}"] = value
    if strays:
        raise WeightsError(f"{', '.join(strays[:5])}: belong to no layer of {project.name!r}")
    return keyed


def by_attribute(state: Mapping[str, _Value], project: Project) -> dict[str, _Value]:
    """Re-key node-keyed weights by the attributes of `project`'s generated model, as it is named now.

    Keys of nodes the project no longer has (or that hold no weights now) keep their node-id
    form, so a fit check reports them as unexpected.
    """
    attributes = module_names(project)
    keyed: dict[str, _Value] = {}
    for key, value in state.items():
        node_id, _, rest = key.partition(SEPARATOR)
        attribute = attributes.get(node_id)
        keyed[key if attribute is None else f"{attribute}.{rest}" if rest else attribute] = value
    return keyed


def declared_state(project: Project) -> dict[str, StateTensor]:
    """The generated model's state dict as its layers declare them (`state`): `conv1.weight` -> shape, learned."""
    declared = declared_node_state(flatten(project.graph))
    return {
        f"{attribute}.{name}": tensor
        for node_id, attribute in module_names(project).items()
        for name, tensor in declared.get(node_id, {}).items()
    }


def project_weights_bytes(project: Project, state: Mapping[str, Any]) -> bytes:
    """The project's weights file: its generated model's state dict keyed by node id, as an .npz archive."""
    return npz_bytes(by_node(state, project))


def describe_key(key: str, project: Project | None) -> str:
    """A state-dict key as a user knows it: node-keyed ones by the layer's name, or as a removed layer."""
    node_id, separator, rest = key.partition(SEPARATOR)
    if not separator:
        return key
    graph = project.graph if project is not None else None
    node = graph.nodes.get(node_id) if graph is not None else None
    if node is None and graph is not None and "." in node_id:  # a layer inside a block instance: n5.0.n2
        node = flatten(graph).nodes.get(node_id)
    return f"{node.name}.{rest}" if node is not None else f"{rest} of a removed layer (id {node_id})"


def weights_to_rekey(project: Project, project_path: str | Path | None) -> dict[str, np.ndarray] | None:
    """The project's weights re-keyed by node id, when its file is keyed by attribute (format 1, a run's best.pt).

    None when the project has no weights file or it is keyed by node id already.

    Raises:
        WeightsError: the file cannot be read, or its keys name no layer of the project.
    """
    path = trained_weights(project, project_path)
    if path is None or not path.is_file():
        return None
    with open_weights(path) as archive:
        if keyed_by_node(archive.entries):
            return None
        state = _read_all(archive)
    return {key: value.detach().cpu().numpy() for key, value in by_node(state, project).items()}


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a weights file: a `.npz` (read without pickle), a state dict, or a checkpoint's "model".

    Raises:
        WeightsError: the file cannot be read, holds something else than named tensors of real numbers, or more than the weights limit.
    """
    with open_weights(path) as archive:
        return _read_all(archive)


def _read_all(archive: WeightsArchive) -> dict[str, torch.Tensor]:
    odd = next((key for key, entry in archive.entries.items() if not entry.real), None)
    if odd is not None:
        raise WeightsError(f"{archive.path}: {odd} holds {archive.entries[odd].dtype}, not real numbers")
    size = sum(entry.nbytes for entry in archive.entries.values())
    try:
        check_bytes(size, f"{archive.path}: holds {describe_bytes(size)} of weights")
    except WeightsLimitError as err:
        raise WeightsError(str(err)) from None
    return archive.tensors(archive.entries)
