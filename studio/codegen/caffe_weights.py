"""A project's weights as a Caffe .caffemodel: a binary NetParameter holding each weighted layer's blobs.

Only the messages weights need are written, with a small protobuf wire-format encoder: the net's
name, and per layer its name, type, bottoms, tops and BlobProtos (a BlobShape and packed float32
data). Layers without blobs are left out: Caffe and OpenCV copy blobs by layer name and take
everything else from the prototxt. Which of a node's PyTorch tensors go into which blob, in
Caffe's layout, is the layer's own `weights` recipe (`studio.graph.catalogue.caffe_records`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.codegen.caffe import CaffeNet, plan_caffe
from studio.codegen.names import CodegenError
from studio.codegen.pytorch import module_names
from studio.graph.catalogue.caffe_records import Layer
from studio.graph.project import Project

if TYPE_CHECKING:
    import numpy as np
    import torch

NET_NAME, NET_LAYER = 1, 100
LAYER_NAME, LAYER_TYPE, LAYER_BOTTOM, LAYER_TOP, LAYER_BLOBS = 1, 2, 3, 4, 7
BLOB_DATA, BLOB_SHAPE, SHAPE_DIM = 5, 7, 1
BLOB_LEGACY = (1, 2, 3, 4)  # num, channels, height, width
WEIGHTED = frozenset({"Convolution", "Deconvolution", "InnerProduct", "BatchNorm", "Scale", "Bias", "PReLU", "Embed"})
"""Caffe layer types that hold blobs; every such layer an emitter writes must say where its blobs come from."""
_VARINT, _LENGTH = 0, 2


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf base-128 varint."""
    if value < 0:
        raise ValueError(f"{value}: protobuf varints written here are never negative")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def length_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: a string, a nested message or a packed array."""
    return varint(number << 3 | _LENGTH) + varint(len(payload)) + payload


def blob_proto(array: np.ndarray) -> bytes:
    """A BlobProto: its shape (packed int64 dims), then its values as packed float32.

    A blob of no axes (a shared PReLU slope) is written with the legacy 1 x 1 x 1 x 1 shape
    instead: Caffe matches that to a blob of no axes, and OpenCV cannot make an array of none.
    """
    import numpy as np

    if array.ndim == 0:
        shape = b"".join(varint(number << 3 | _VARINT) + varint(1) for number in BLOB_LEGACY)
    else:
        shape = length_field(BLOB_SHAPE, length_field(SHAPE_DIM, b"".join(varint(int(d)) for d in array.shape)))
    return shape + length_field(BLOB_DATA, np.ascontiguousarray(array, dtype="<f4").tobytes())


def layer_proto(layer: Layer, blobs: list[np.ndarray]) -> bytes:
    """A LayerParameter naming the layer as the prototxt does, with its blobs."""
    fields = [length_field(LAYER_NAME, _utf8(layer.name)), length_field(LAYER_TYPE, _utf8(layer.type))]
    fields += [length_field(LAYER_BOTTOM, _utf8(name)) for name in layer.bottoms]
    fields += [length_field(LAYER_TOP, _utf8(name)) for name in layer.tops]
    fields += [length_field(LAYER_BLOBS, blob_proto(blob)) for blob in blobs]
    return b"".join(fields)


def node_tensors(project: Project, model: torch.nn.Module) -> dict[str, dict[str, np.ndarray]]:
    """Each layer's parameters and buffers (constant tables too) in the generated `model`, as float32 arrays, by node id and name.

    Modules of no layer (an Input's Standardize, which Caffe leaves to the caller or to a Power layer) are not read.
    """
    tensors: dict[str, dict[str, np.ndarray]] = {}
    for node_id, path in module_names(project).items():
        module = model.get_submodule(path)
        named = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        tensors[node_id] = {name: value.detach().cpu().float().numpy() for name, value in named.items()}
    return tensors


def layer_blobs(net: CaffeNet, tensors: dict[str, dict[str, np.ndarray]]) -> list[tuple[Layer, list[np.ndarray]]]:
    """Every weighted layer of `net` with its blobs, in the net's order.

    Raises:
        CodegenError: a layer of a weighted type has no recipe, or names a tensor its node lacks (a bug, said plainly).
    """
    import numpy as np

    found: list[tuple[Layer, list[np.ndarray]]] = []
    for layer, node_id in zip(net.layers, net.owners):
        if layer.weights is None:
            if layer.type in WEIGHTED:
                raise CodegenError(f"Caffe layer {layer.name!r} ({layer.type}) holds weights, but its layer does not say which")
            continue
        own = tensors.get(node_id, {})

        def tensor(name: str, own: dict[str, Any] = own, layer: Layer = layer) -> np.ndarray:
            if name not in own:
                raise CodegenError(f"Caffe layer {layer.name!r} needs the tensor {name!r}, which its PyTorch layer does not hold")
            return own[name]

        found.append((layer, [np.asarray(blob, dtype=np.float32) for blob in layer.weights(tensor)]))
    return found


def caffemodel_bytes(project: Project, model: torch.nn.Module, net: CaffeNet | None = None) -> bytes:
    """The .caffemodel of `project` holding the weights of its generated PyTorch `model`; `net` is its plan when made already.

    Raises:
        CodegenError: Caffe cannot express a layer of the project (as for the prototxt).
    """
    net = net or plan_caffe(project)
    layers = [length_field(NET_LAYER, layer_proto(layer, blobs)) for layer, blobs in layer_blobs(net, node_tensors(project, model))]
    return length_field(NET_NAME, _utf8(project.name)) + b"".join(layers)


def _utf8(text: str) -> bytes:
    """A name as the prototxt writes it (`prototxt_string`), so both files name each layer alike."""
    return text.encode("utf-8", errors="replace")

