"""A project's weights files keyed by node id, so renaming a layer never orphans its weights.

A state dict in memory is keyed as the generated PyTorch model has it (`conv1.weight`: the
layer's module path, then the parameter; `layer1_0.conv1.weight` inside a block instance). The project's own weights files (an import's
`<stem>.weights.npz`, a run's `weights.npz`) key the same arrays by the layer's stable node id
(`n3/weight`), and are mapped to the attribute names of the network as it is now only when they
are loaded. A file keyed by attribute (a run's `best.pt`, a user's own state dict, or a project
weights file written before format 2) loads while the names it was made from still hold.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from studio.codegen.pytorch import module_names
from studio.graph.catalogue.base import StateTensor
from studio.graph.flatten import flatten
from studio.graph.project import Project, trained_weights
from studio.graph.regular_files import NotRegularFileError, open_regular
from studio.graph.weights_file import (
    SEPARATOR,
    declared_node_state,
    keyed_by_node,
    npz_bytes,
)

if TYPE_CHECKING:
    import numpy as np
    import torch

_Value = TypeVar("_Value")


class WeightsError(Exception):
    """A weights file that cannot be read or does not fit the network; the message names it."""


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
    if path is None or not path.is_file() or (path.suffix == ".npz" and keyed_by_node(_archive_keys(path))):
        return None
    state = read_weights(path)
    if keyed_by_node(state):
        return None
    return {key: value.detach().cpu().numpy() for key, value in by_node(state, project).items()}


def _archive_keys(path: Path) -> list[str]:
    """The array names of an .npz archive, read from its zip directory (no array is loaded)."""
    try:
        with open_regular(path) as file, zipfile.ZipFile(file) as archive:
            return [name.removesuffix(".npy") for name in archive.namelist()]
    except NotRegularFileError as err:
        raise WeightsError(str(err)) from None
    except (OSError, zipfile.BadZipFile) as err:
        raise WeightsError(f"{path}: cannot be read as NumPy weights ({err})") from err


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a `.npz` (read without pickle), a state dict, or a checkpoint's "model".

    Raises:
        WeightsError: the file cannot be read, or holds something else than named tensors.
    """
    import pickle

    import torch

    if Path(path).suffix == ".npz":
        state = _read_npz(Path(path))
    else:
        try:
            with open_regular(path) as file:
                state = torch.load(file, map_location="cpu", weights_only=True)
        except NotRegularFileError as err:
            raise WeightsError(str(err)) from None
        except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as err:
            raise WeightsError(f"{path}: cannot be read as PyTorch weights ({_first_line(err)})") from err
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors")
    if not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
        raise WeightsError(f"{path}: holds entries that are not named tensors: not a state dict")
    return state


def _read_npz(path: Path) -> dict[str, torch.Tensor]:
    import zipfile

    import numpy as np
    import torch

    try:
        with open_regular(path) as file:
            archive = np.load(file, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise WeightsError(f"{path}: holds one array, not named arrays (an .npz archive)")
            with archive:
                return {key: torch.from_numpy(np.array(archive[key])) for key in archive.files}
    except NotRegularFileError as err:
        raise WeightsError(str(err)) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise WeightsError(f"{path}: cannot be read as NumPy weights ({_first_line(err)})") from err


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
