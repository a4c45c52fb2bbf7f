"""Reading an ONNX file safely: size limits, truncation, nested graphs and external data kept inside the model's folder."""

# NOTE: nothing in a model file is trusted. Sizes are checked from the declared dimensions
# before any tensor is materialized; external data is read only from regular files inside
# the model's own folder (no absolute paths, no "..", no symbolic links leading out), and only
# the byte range the tensor needs.

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from studio.graph.regular_files import (
    open_regular,
    read_or_refuse,
)
from studio.interop.common import ModelImportError
from studio.interop.onnx_functions import FunctionCalls
from studio.interop.onnx_sparse import dense_bytes, densify, sparse_tensors

if TYPE_CHECKING:
    import onnx

MAX_FILE_BYTES = 2 * 2**30 - 1  # protobuf cannot hold more in one message
MAX_TENSOR_BYTES = 4 * 2**30
MAX_TOTAL_BYTES = 8 * 2**30
MAX_NODES = 200_000  # after inlining local functions
MAX_DIM = 1_000_000  # the catalogue's largest size of one input dimension
MAX_INPUT_ELEMENTS = 2**31
MIN_OPSET = 7
TYPED_FIELDS = {  # element type -> the repeated field holding one value per element when not raw
    1: "float_data", 2: "int32_data", 3: "int32_data", 4: "int32_data", 5: "int32_data", 6: "int32_data",
    7: "int64_data", 9: "int32_data", 10: "int32_data", 11: "double_data", 12: "uint64_data", 13: "uint64_data",
    16: "int32_data",
}  # fmt: skip


def read_model(path: Path) -> onnx.ModelProto:
    """Parse and vet the model at `path`, with its external data loaded from its own folder.

    Raises:
        ModelImportError: the file is missing, too large, not ONNX, truncated, hostile or
            refers to data outside its folder; the message names the file and the reason.
    """
    import onnx
    from google.protobuf.message import DecodeError

    data = read_or_refuse(path, MAX_FILE_BYTES, ModelImportError, lambda size: f"is {size:,} bytes, more than one ONNX file can hold (2 GB)")
    if not data:
        raise ModelImportError(f"{path}: is empty, not an ONNX model")
    try:
        model = onnx.load_model_from_string(data)  # external data is read below, from inside the model's folder only
    except (DecodeError, RecursionError) as err:
        raise ModelImportError(
            f"{path}: is not a readable ONNX model (truncated or not protobuf: {_short(err)})"
        ) from None
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelImportError(
            f"{path}: cannot be read as an ONNX model ({_short(err)})"
        ) from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise ModelImportError(f"{path}: holds no graph, so it is not an ONNX model")
    vet(model, path)
    if model.functions:
        FunctionCalls(model, path, MAX_NODES).inline()
        vet(model, path)  # the functions' Constants are graph nodes now
    _load_external(model, path)
    densify(model, path)
    return model


def vet(model: onnx.ModelProto, path: Path) -> None:
    """Refuse nested graphs, too many nodes, unsupported opsets and tensors whose declared sizes are absurd."""
    import onnx

    graph = model.graph
    if len(graph.node) > MAX_NODES:
        raise ModelImportError(
            f"{path}: has {len(graph.node):,} nodes, more than the {MAX_NODES:,} an import takes"
        )
    if model.functions:
        FunctionCalls(model, path, MAX_NODES).check()
    opset = default_opset(model)
    if opset is None or opset < MIN_OPSET:
        raise ModelImportError(
            f"{path}: uses ONNX opset {opset}; Layer Studio imports opset {MIN_OPSET} and newer"
        )
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise ModelImportError(
            f"{path}: uses ONNX opset {opset}, newer than the installed onnx package knows ({newest}): update onnx"
        )
    attributed = [node for node in graph.node if len(node.attribute)]  # most nodes of a large model have none: each pass below skips them
    for node in [*attributed, *(n for f in model.functions for n in f.node)]:
        for attr in node.attribute:
            if attr.g.node or attr.graphs or attr.type in (5, 10):  # GRAPH, GRAPHS
                name = node.name or node.op_type
                raise ModelImportError(
                    f"{path}: node {name!r} ({node.op_type}) holds a nested sub-graph; "
                    "Layer Studio imports flat graphs only (no If, Loop or Scan)"
                )
    total = 0
    for tensor in graph.initializer:
        total += _check_tensor(tensor, path)
    for node in attributed:
        for attr in node.attribute:
            if attr.HasField("t"):
                total += _check_tensor(attr.t, path)
    for sparse in sparse_tensors(model, attributed):
        _check_tensor(sparse.values, path)
        _check_tensor(sparse.indices, path)
        total += dense_bytes(sparse, path)
    if total > MAX_TOTAL_BYTES:
        raise ModelImportError(
            f"{path}: declares {total:,} bytes of weights, more than an import takes"
        )
    initialized = {t.name for t in graph.initializer}
    for value in graph.input:
        if value.name in initialized:
            continue
        dims = value.type.tensor_type.shape.dim
        sizes = [d.dim_value for d in dims if d.HasField("dim_value")]
        if any(s < 0 for s in sizes):
            raise ModelImportError(f"{path}: input {value.name!r} declares sizes {sizes}: a size is 0 or more")
        if any(s > MAX_DIM for s in sizes) or math.prod(max(s, 1) for s in sizes) > MAX_INPUT_ELEMENTS:
            raise ModelImportError(
                f"{path}: input {value.name!r} declares sizes {sizes}, too large to import"
            )


def default_opset(model: onnx.ModelProto) -> int | None:
    """The version of the default ONNX operator set the model imports."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return versions[0] if versions else None


def _check_tensor(tensor: onnx.TensorProto, path: Path) -> int:
    """The tensor's declared byte size, after checking it is sane and that its data is all there."""
    from onnx import TensorProto, helper

    name = tensor.name or "<unnamed>"
    if any(d < 0 for d in tensor.dims):
        raise ModelImportError(
            f"{path}: tensor {name!r} has a negative dimension {list(tensor.dims)}"
        )
    count = math.prod(tensor.dims)
    if tensor.data_type in (0, TensorProto.STRING) and count:
        raise ModelImportError(
            f"{path}: tensor {name!r} holds {'strings' if tensor.data_type else 'no type'}, not numbers"
        )
    try:
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        raise ModelImportError(
            f"{path}: tensor {name!r} has an unknown element type {tensor.data_type}"
        ) from None
    size = count * itemsize
    if size > MAX_TENSOR_BYTES:
        raise ModelImportError(
            f"{path}: tensor {name!r} declares {count:,} elements {list(tensor.dims)}, too large to import"
        )
    if tensor.data_location == TensorProto.EXTERNAL:
        return size
    if tensor.HasField("raw_data"):
        return size  # its length is checked when the values are read (reading it here would copy it)
    field = TYPED_FIELDS.get(tensor.data_type)
    held = len(getattr(tensor, field)) if field else 0
    if count and held != count:
        raise ModelImportError(
            f"{path}: tensor {name!r} should hold {count:,} values but holds {held:,} (a truncated or damaged file)"
        )
    return size


def _load_external(model: onnx.ModelProto, path: Path) -> None:
    """Read each external tensor's bytes from a file inside the model's folder, after checking the path and range."""
    from onnx import TensorProto, helper

    folder = path.resolve().parent
    tensors = [
        *model.graph.initializer,
        *(a.t for n in model.graph.node for a in n.attribute if a.HasField("t")),
        *(t for sparse in sparse_tensors(model) for t in (sparse.values, sparse.indices)),
    ]
    for tensor in tensors:
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        name = tensor.name or "<unnamed>"
        location = info.get("location", "")
        source = _inside(folder, location, name, path)
        size = (
            math.prod(tensor.dims)
            * helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        )
        offset = _byte_field(info, "offset", 0, name, path)
        length = _byte_field(info, "length", size, name, path)
        file_size = source.stat().st_size
        if length != size:
            raise ModelImportError(
                f"{path}: tensor {name!r} has external data field 'length' {length:,}, "
                f"but its shape {list(tensor.dims)} needs exactly {size:,} bytes"
            )
        if offset > file_size:
            raise ModelImportError(
                f"{path}: tensor {name!r} has external data field 'offset' {offset:,}, "
                f"past the end of {location!r} ({file_size:,} bytes); it must lie within the file"
            )
        if offset + length > file_size:
            raise ModelImportError(
                f"{path}: tensor {name!r} needs bytes {offset:,} to {offset + size:,} of {location!r}, "
                f"which holds {file_size:,} (a truncated or mismatched data file)"
            )
        try:
            with open_regular(source) as file:
                file.seek(offset)
                tensor.raw_data = file.read(length)
        except OSError as err:
            raise ModelImportError(f"{path}: tensor {name!r}: its data file {location!r} cannot be read ({err.strerror or err})") from None
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


def _byte_field(info: dict[str, str], key: str, default: int, name: str, path: Path) -> int:
    """The external data field `key` as a byte count; ModelImportError unless it is a whole number >= 0."""
    text = info.get(key, "")
    if text == "":
        return default
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        raise ModelImportError(
            f"{path}: tensor {name!r} has external data field {key!r} = {text[:40]!r}; "
            "it must be a whole number of bytes, 0 or more"
        )
    return int(value)


def _inside(folder: Path, location: str, name: str, path: Path) -> Path:
    """The external data file `location` resolved inside `folder`; ModelImportError for anything that leaves it."""
    where = f"{path}: tensor {name!r} keeps its data in {location!r}"
    if not location or "\x00" in location:
        raise ModelImportError(f"{where}, which is not a file name")
    if (
        os.path.isabs(location)
        or Path(location).is_absolute()
        or location.startswith(("/", "\\"))
        or ":" in location
    ):
        raise ModelImportError(
            f"{where}: an absolute path; external data must lie in the model's own folder"
        )
    if ".." in Path(location.replace("\\", "/")).parts:
        raise ModelImportError(
            f"{where}: a path leaving the model's folder; external data must lie in that folder"
        )
    candidate = folder / location
    resolved = candidate.resolve()
    if resolved != folder and folder not in resolved.parents:
        raise ModelImportError(
            f"{where}, which leads outside the model's folder (a symbolic link)"
        )
    if not resolved.is_file():
        raise ModelImportError(f"{where}, which is missing from the model's folder")
    return resolved


def _short(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
