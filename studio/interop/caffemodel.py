"""Trained Caffe weights (.caffemodel, binary protobuf) read with a minimal wire-format reader.

Only what weights need is read: each layer's name and its BlobProto blobs (shape and float or
double data); everything else is skipped by its wire type. Lengths and counts are checked
against the bytes that are really there, so a truncated or hostile file is one clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.graph.project import Project
from studio.graph.regular_files import read_or_refuse
from studio.graph.weights_file import declared_node_state, node_key
from studio.interop.caffe_builder import Sink
from studio.interop.common import ModelImportError

if TYPE_CHECKING:
    import numpy as np

MAX_BYTES = 2 * 2**30
_NET_LAYER, _NET_V1_LAYERS = 100, 2
_LAYER_NAME, _LAYER_BLOBS = 1, 7
_V1_NAME, _V1_BLOBS = 4, 6
_BLOB_SHAPE, _BLOB_DATA, _BLOB_DOUBLE = 7, 5, 8
_BLOB_LEGACY = {1: 0, 2: 1, 3: 2, 4: 3}  # num, channels, height, width


class CaffeModelError(ModelImportError):
    """A .caffemodel that cannot be read, or whose weights do not fit the net."""


@dataclass(frozen=True)
class _Field:
    number: int
    wire: int
    value: int | memoryview


class _Truncated(Exception):
    pass


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _Truncated
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise CaffeModelError(
                "a number in the file is longer than 10 bytes (not protobuf)"
            )


def _fields(data: memoryview) -> Iterator[_Field]:
    """The fields of one message, in order (groups, long gone from protobuf, are refused)."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield _Field(number, wire, value)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise _Truncated
            yield _Field(number, wire, data[pos : pos + size])
            pos += size
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _Truncated
            yield _Field(number, wire, data[pos : pos + size])
            pos += size
        else:
            raise CaffeModelError(
                f"field {number} has wire type {wire}, which Caffe's weights never use"
            )


def _blob(data: memoryview) -> np.ndarray:
    import numpy as np

    dims: list[int] = []
    legacy = [0, 0, 0, 0]
    chunks: list[np.ndarray] = []
    for f in _fields(data):
        if f.number == _BLOB_SHAPE and f.wire == 2:
            dims = _dims(f.value)  # type: ignore[arg-type]
        elif f.number in (_BLOB_DATA, _BLOB_DOUBLE):
            dtype = "<f4" if f.number == _BLOB_DATA else "<f8"
            raw = bytes(f.value) if isinstance(f.value, memoryview) else None
            if raw is None or (f.wire == 2 and len(raw) % np.dtype(dtype).itemsize):
                raise CaffeModelError(
                    "a weight blob's data is not a whole number of values"
                )
            chunks.append(np.frombuffer(raw, dtype=dtype).astype(np.float32))
        elif f.number in _BLOB_LEGACY and f.wire == 0:
            legacy[_BLOB_LEGACY[f.number]] = int(f.value)  # type: ignore[arg-type]
    values = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    shape = dims or [d for d in legacy]
    count = 1
    for d in shape:
        count *= d
    if count != values.size:
        raise CaffeModelError(
            f"a weight blob has shape {tuple(shape)} but holds {values.size} values"
        )
    return values.reshape(shape)


def _dims(data: memoryview) -> list[int]:
    dims: list[int] = []
    for f in _fields(data):
        if f.number != 1:
            continue
        if f.wire == 0:
            dims.append(int(f.value))  # type: ignore[arg-type]
        elif f.wire == 2:
            pos = 0
            packed = f.value
            assert isinstance(packed, memoryview)
            while pos < len(packed):
                dim, pos = _varint(packed, pos)
                dims.append(dim)
    if any(d >= 2**62 for d in dims) or len(dims) > 32:
        raise CaffeModelError("a weight blob has an impossible shape")
    return dims


def read_caffemodel(path: Path) -> dict[str, list[np.ndarray]]:
    """The weight blobs of every layer in a .caffemodel, by layer name, as float32 arrays."""
    data = memoryview(read_or_refuse(path, MAX_BYTES, CaffeModelError, lambda size: f"is {size / 2**30:.1f} GiB, more than the {MAX_BYTES // 2**30} GiB weights may be"))
    try:
        return _layers(data)
    except _Truncated:
        raise CaffeModelError(
            f"{path}: is cut short or is not a Caffe weights file"
        ) from None
    except CaffeModelError as err:
        raise CaffeModelError(f"{path}: {err}") from None


def _layers(data: memoryview) -> dict[str, list[np.ndarray]]:
    layers: dict[str, list[np.ndarray]] = {}
    for f in _fields(data):
        if f.wire != 2 or f.number not in (_NET_LAYER, _NET_V1_LAYERS):
            continue
        name_field, blobs_field = (
            (_LAYER_NAME, _LAYER_BLOBS)
            if f.number == _NET_LAYER
            else (_V1_NAME, _V1_BLOBS)
        )
        name, blobs = "", []
        for g in _fields(f.value):  # type: ignore[arg-type]
            if g.number == name_field and g.wire == 2:
                name = bytes(g.value).decode("utf-8", errors="replace")  # type: ignore[arg-type]
            elif g.number == blobs_field and g.wire == 2:
                blobs.append(_blob(g.value))  # type: ignore[arg-type]
        if blobs:
            layers[name] = blobs
    return layers


def caffe_state(
    sinks: dict[str, Sink],
    blobs: dict[str, list[np.ndarray]],
    declared: dict[str, dict[str, tuple[int, ...]]],
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The layers' weights from Caffe's blobs, keyed by node id (`n3/weight`), and the layers the file had none for.

    `declared` gives each stateful node's tensors and their shapes (`declared_shapes`).
    """
    import numpy as np

    state: dict[str, np.ndarray] = {}
    missing: list[str] = []
    problems: list[str] = []
    for layer_name, sink in sinks.items():
        found = blobs.get(layer_name)
        if found is None:
            missing.append(layer_name)
            continue
        expected = declared.get(sink.node, {})
        try:
            for key, value in _assign(sink, found, expected):
                if key not in expected:
                    raise CaffeModelError(
                        f"has {len(found)} blobs, one more than the layer holds"
                    )
                shape = expected[key]
                if value.size != int(np.prod(shape)):
                    raise CaffeModelError(
                        f"blob for {key} has {value.size} values, the layer needs {shape}"
                    )
                state[node_key(sink.node, key)] = np.ascontiguousarray(
                    value.reshape(shape), dtype=np.float32
                )
        except CaffeModelError as err:
            problems.append(f"layer {layer_name!r}: {err}")
    if problems:
        raise CaffeModelError("the weights do not fit the net: " + "; ".join(problems))
    for node_id, tensors in declared.items():
        if "num_batches_tracked" in tensors:
            state.setdefault(node_key(node_id, "num_batches_tracked"), np.zeros((), dtype=np.int64))
    return state, missing


def _assign(sink: Sink, found: list[np.ndarray], expected: dict[str, tuple[int, ...]]) -> list[tuple[str, np.ndarray]]:
    import numpy as np

    if sink.kind == "batch_norm":
        if len(found) < 2:
            raise CaffeModelError(
                f"has {len(found)} blobs where BatchNorm keeps mean, variance and a scale factor"
            )
        factor = (
            float(found[2].reshape(-1)[0]) if len(found) > 2 and found[2].size else 1.0
        )
        factor = 0.0 if factor == 0 else 1.0 / factor
        return [("running_mean", found[0] * factor), ("running_var", found[1] * factor)]
    if sink.kind == "scale":
        pairs = [("weight", found[0])]
        if len(found) > 1:
            pairs.append(("bias", found[1]))
        else:
            pairs.append(("bias", np.zeros_like(found[0])))
        return pairs
    if sink.kind == "prelu":
        return [("weight", found[0])]
    weight = found[0]
    if sink.kind == "linear" and sink.transpose:
        weight = _transposed(weight, expected.get("weight", ()))
    pairs = [("weight", weight)]
    if len(found) > 1:
        pairs.append(("bias", found[1]))
    return pairs


def _transposed(weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A transposed InnerProduct's (inputs, outputs) blob as Linear's (outputs, inputs); CaffeModelError if it does not fit."""
    if len(shape) != 2:
        raise CaffeModelError("has a weight blob, but its layer takes no (outputs, inputs) weight")
    outputs, inputs = shape
    dims = tuple(weight.shape)
    while len(dims) > 2 and dims[0] == 1:  # legacy 4-D blobs lead with (1, 1)
        dims = dims[1:]
    if dims != (inputs, outputs):
        raise CaffeModelError(
            f"blob 0 (weight) has shape {tuple(weight.shape)}, a transposed InnerProduct "
            f"needs ({inputs}, {outputs}) (inputs, outputs)"
        )
    return weight.reshape(inputs, outputs).T


def declared_shapes(project: Project) -> dict[str, dict[str, tuple[int, ...]]]:
    """Each stateful node's tensors and their shapes (PyTorch's own layouts), as its layer declares them."""
    return {
        node_id: {name: tuple(d or 0 for d in tensor.shape) for name, tensor in tensors.items()}
        for node_id, tensors in declared_node_state(project.graph).items()
    }
