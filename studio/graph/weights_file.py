"""A project's weights file: every layer's state keyed by node id (`n3/weight`), as an .npz archive.

This is the project's own layout, so it lives beside the project format: the importers write it
and the trainer reads it without knowing what the exported code calls its attributes (mapping
node ids to a generated model's names is `studio.codegen.weights`). NumPy is imported only when
an archive is written.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

from studio.graph.catalogue.base import StateTensor
from studio.graph.model import Graph
from studio.graph.shapes import snapshot_analysis

SEPARATOR = "/"  # never part of a node id (`studio.graph.model` allows letters, digits, '_', '.', ':', '-')


def node_key(node_id: str, name: str) -> str:
    """The key of one of a node's tensors: `n3/weight`."""
    return f"{node_id}{SEPARATOR}{name}"


def keyed_by_node(keys: Iterable[str]) -> bool:
    """True when every key names a node id (`n3/weight`), as the project's weights files do."""
    keys = list(keys)
    return bool(keys) and all(SEPARATOR in key for key in keys)


def declared_node_state(graph: Graph) -> dict[str, dict[str, StateTensor]]:
    """Each stateful node's tensors as its layer declares them (`LayerSpec.state`), by node id, in graph order."""
    results = snapshot_analysis(graph).results()
    declared: dict[str, dict[str, StateTensor]] = {}
    for node_id, node in graph.nodes.items():
        result = results.get(node_id)
        if result is None:
            continue
        state = node.spec.state(node.params, list(result.inputs))
        if state:
            declared[node_id] = state
    return declared


def npz_bytes(state: Mapping[str, Any]) -> bytes:
    """Named arrays (NumPy arrays or torch tensors) as the bytes of an .npz archive (no pickle)."""
    import numpy as np

    buffer = io.BytesIO()
    arrays = {key: value.detach().cpu().numpy() if hasattr(value, "detach") else value for key, value in state.items()}
    # np.ascontiguousarray would turn a 0-d count (num_batches_tracked) into shape (1,)
    np.savez(buffer, **{key: np.asarray(value, order="C") for key, value in arrays.items()})
    return buffer.getvalue()
