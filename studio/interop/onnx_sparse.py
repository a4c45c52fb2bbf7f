"""Sparse ONNX tensors (sparse initializers, a Constant's `sparse_value`) made dense, within a size bound computed before anything is allocated.

NOTE: an imported project holds dense weights, so a sparse tensor is made dense on import. Its
dense size comes from its declared dims alone and counts against the same limits as any other
tensor (the whole model's `onnx_files.MAX_TOTAL_BYTES`), under a tighter bound of its own (`MAX_DENSE_BYTES`): a file of a few bytes declaring a
huge dense size is refused before onnx or NumPy is asked to build anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from studio.interop.common import ModelImportError

if TYPE_CHECKING:
    import onnx

MAX_DENSE_BYTES = 2**30  # a sparse tensor's dense size: a few bytes of file may declare it, so it is held well below a dense tensor's limit
SPARSE_VALUES = 12  # AttributeProto.SPARSE_TENSORS


def sparse_tensors(model: onnx.ModelProto, nodes: Iterable[onnx.NodeProto] | None = None) -> list[onnx.SparseTensorProto]:
    """Every sparse tensor of the main graph: its sparse initializers, then each node attribute that holds one (`nodes`: those of its nodes that have attributes, if known)."""
    graph = model.graph
    found = list(graph.sparse_initializer)
    for node in graph.node if nodes is None else nodes:
        for attr in node.attribute:
            if attr.HasField("sparse_tensor"):
                found.append(attr.sparse_tensor)
            found.extend(attr.sparse_tensors)
    return found


def dense_bytes(sparse: onnx.SparseTensorProto, path: Path) -> int:
    """The bytes the tensor takes once dense, after checking its dims, element type and index layout; at most MAX_DENSE_BYTES.

    Raises:
        ModelImportError: a negative dimension, a dense size over MAX_DENSE_BYTES, values
            that are not a list of numbers, or indices of the wrong type or layout.
    """
    from onnx import TensorProto, helper

    values, indices = sparse.values, sparse.indices
    name = values.name or "<unnamed>"
    where = f"{path}: sparse tensor {name!r}"
    dims = list(sparse.dims)
    if not dims or any(d < 0 for d in dims):
        raise ModelImportError(f"{where} declares dims {dims[:8]}; each must be 0 or more, and there must be at least one")
    if values.data_type in (0, TensorProto.STRING):
        raise ModelImportError(f"{where} holds {'strings' if values.data_type else 'no type'}, not numbers")
    try:
        itemsize = helper.tensor_dtype_to_np_dtype(values.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        raise ModelImportError(f"{where} has an unknown element type {values.data_type}") from None
    count = math.prod(dims)
    size = count * itemsize
    if size > MAX_DENSE_BYTES:
        raise ModelImportError(
            f"{where} declares a dense size of {count:,} elements {dims[:8]} ({size / 2**30:,.2f} GiB); "
            f"an import makes sparse tensors dense, each at most {MAX_DENSE_BYTES / 2**30:g} GiB (MAX_DENSE_BYTES in studio/interop/onnx_sparse.py)"
        )
    if len(values.dims) != 1:
        raise ModelImportError(f"{where}: its values must be a list (1-D), not of dims {list(values.dims)[:8]}")
    held = values.dims[0]
    if held > count:
        raise ModelImportError(f"{where} holds {held:,} values, more than its {count:,} elements")
    if held and indices.data_type != TensorProto.INT64:
        raise ModelImportError(f"{where}: its indices must be int64, not element type {indices.data_type}")
    if held and list(indices.dims) not in ([held], [held, len(dims)]):
        raise ModelImportError(
            f"{where}: its indices must be of dims [{held}] or [{held}, {len(dims)}], not {list(indices.dims)[:8]}"
        )
    return size


def densify(model: onnx.ModelProto, path: Path) -> None:
    """Replace every sparse initializer by a dense initializer, and every Constant's `sparse_value` by a dense `value`, in place.

    Call after `dense_bytes` vetted each tensor and external data was read: each dense array is
    then of a size already allowed.

    Raises:
        ModelImportError: the values or indices cannot be read, or an index lies outside the dims.
    """
    from onnx import AttributeProto

    graph = model.graph
    for sparse in graph.sparse_initializer:
        graph.initializer.append(_dense(sparse, path))
    del graph.sparse_initializer[:]
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == SPARSE_VALUES or len(attr.sparse_tensors):
                raise ModelImportError(
                    f"{path}: node {node.name or node.op_type!r} ({node.op_type}) has a list of sparse tensors "
                    f"in attribute {attr.name!r}, which no operator Layer Studio maps takes"
                )
            if not attr.HasField("sparse_tensor"):
                continue
            dense = _dense(attr.sparse_tensor, path)
            attr.ClearField("sparse_tensor")
            attr.t.CopyFrom(dense)
            attr.type = AttributeProto.TENSOR
            if attr.name == "sparse_value":
                attr.name = "value"


def _dense(sparse: onnx.SparseTensorProto, path: Path) -> onnx.TensorProto:
    """One sparse tensor as a dense TensorProto of its values' name."""
    import numpy as np
    from onnx import numpy_helper

    name = sparse.values.name or "<unnamed>"
    dims = tuple(sparse.dims)
    count = math.prod(dims)
    try:
        values = numpy_helper.to_array(sparse.values).reshape(-1)
        indices = numpy_helper.to_array(sparse.indices) if values.size else np.zeros(0, np.int64)
    except (ValueError, TypeError) as err:
        raise ModelImportError(
            f"{path}: sparse tensor {name!r} cannot be read ({str(err).strip()[:120]}): a truncated or damaged file"
        ) from None
    if indices.ndim == 2:  # one row of coordinates per value
        if ((indices < 0) | (indices >= np.array(dims, np.int64))).any():
            raise ModelImportError(f"{path}: sparse tensor {name!r} has an index outside its dims {list(dims)}")
        indices = np.ravel_multi_index(tuple(indices.T), dims)
    elif values.size and (indices.min() < 0 or indices.max() >= count):
        raise ModelImportError(f"{path}: sparse tensor {name!r} has an index outside its {count:,} elements")
    dense = np.zeros(count, values.dtype)
    dense[indices] = values
    return numpy_helper.from_array(dense.reshape(dims), name)
