"""Small generators of hostile inputs: each writes a few files into a folder and says how to hand them to `layer-studio`.

Nothing here is large on disk: a file that declares gigabytes holds bytes, a huge network is a
few lines of JSON, and a FIFO or a link to /dev/zero costs nothing.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from studio.graph.model import Graph
from studio.graph.project import Project, TrainingSettings, save_project
from tests.interop.caffemodels import field as proto_field
from tests.interop.caffemodels import varint

MARKER = "PWNED"  # a file hostile code would create in the working folder


@dataclass(frozen=True)
class Setup:
    """The command's arguments, the paths it must leave as they were, and the words its one line must hold."""

    args: list[str]
    targets: list[Path] = field(default_factory=list)
    words: tuple[str, ...] = ()


Maker = Callable[[Path], Setup]


# ----- projects -----
def small_project(folder: Path, name: str = "net.lstudio", features: int = 4, width: int = 3, **training: object) -> Path:
    """Input(features) -> Linear(width) -> Output, saved; `training` overrides its training settings."""
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (features,)})
    fc = graph.add_node("Linear", "fc", {"out_features": width})
    out = graph.add_node("Output", "y")
    graph.connect(x.id, "out", fc.id, "in")
    graph.connect(fc.id, "out", out.id, "in")
    path = folder / name
    save_project(Project("net", graph, training=TrainingSettings(**training)), path)  # type: ignore[arg-type]
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def link(path: Path, to: str | Path) -> Path:
    path.symlink_to(to)
    return path


# ----- ONNX and Caffe -----
def onnx_model(folder: Path, nodes: list, inputs: list, initializers: list | None = None, functions: list | None = None, name: str = "model.onnx", opset: int = 17) -> Path:
    """A model of `nodes` with output 'y', written without onnx's checker (hostile files are not valid ones)."""
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "hostile", inputs, [y], initializers or [])
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("local", 1)] if functions else [])
    model = helper.make_model(graph, opset_imports=opsets, functions=functions or [])
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def float_input(name: str, shape: list[int | str]) -> object:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def constant(name: str, values: np.ndarray) -> TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT if values.dtype.kind == "f" else TensorProto.INT64, values.shape, values.flatten().tolist())


def int_vector(name: str, values: list[int]) -> TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


FC_PROTOTXT = 'input: "x" input_shape {{ dim: 1 dim: {n} }}\nlayer {{ name: "fc" type: "InnerProduct" bottom: "x" top: "fc" inner_product_param {{ num_output: {m} }} }}\n'


def caffe_blob(dims: list[int], data: bytes = b"") -> bytes:
    """A BlobProto declaring `dims` and holding `data` (packed floats), however little it is."""
    return proto_field(7, proto_field(1, b"".join(varint(d) for d in dims))) + (proto_field(5, data) if data else b"")


def caffemodel(layer: str, blobs: list[bytes]) -> bytes:
    """A NetParameter with one layer named `layer` holding `blobs`."""
    return proto_field(100, proto_field(1, layer.encode()) + proto_field(2, b"Layer") + b"".join(proto_field(7, b) for b in blobs))


# ----- weights -----
def npz_declaring(path: Path, name: str, shape: tuple[int, ...], dtype: str = "<f4") -> Path:
    """An .npz whose member `name` declares `shape` in its header but holds 16 bytes of data."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}.npy", member)
    return path


def npz_bomb(path: Path, name: str, elements: int) -> Path:
    """An .npz whose member holds `elements` zeros, deflated to a few hundred kilobytes."""
    header = repr({"descr": "<f4", "fortran_order": False, "shape": (elements,)}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    chunk = bytes(2**22)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        member.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
        for _ in range(elements * 4 // len(chunk)):
            member.write(chunk)
    return path


class _Payload:
    """Unpickling this runs code: what a weights file must never do."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, (f"open({MARKER!r}, 'w').close()",))


def pickle_bomb(path: Path) -> Path:
    """A .pt file (a torch zip) whose pickle would create the marker file when unpickled."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"fc.weight": _Payload()}, protocol=2))
        archive.writestr("archive/version", "3\n")
    path.write_bytes(buffer.getvalue())
    return path


def project_json(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def deep_json(depth: int) -> str:
    return json.dumps({"format": 2, "name": "deep"})[:-1] + ', "graph": ' + "[" * depth + "]" * depth + "}"


def nested_blocks(depth: int, width: int = 2, repeat: int = 1) -> dict:
    """A project whose block B0 holds `width` instances of B1, ..., down to B`depth` of one Identity: width**depth Identities."""

    def node(name: str, kind: str, x: int, **params: object) -> dict:
        return {"name": name, "params": params, "position": [x * 260.0, 0.0], "type": kind}

    def chain(kinds: list[str], repeats: int = 1) -> dict:
        nodes = {"n1": node("x", "Input", 0, dtype="float32", mean=[], shape=[4], std=[])}
        for i, kind in enumerate(kinds, start=2):
            nodes[f"n{i}"] = node(f"l{i}", kind, i, **({"repeat": repeats} if kind.startswith("B") else {}))
        nodes[f"n{len(kinds) + 2}"] = node("y", "Output", len(kinds) + 2)
        return {"nodes": nodes, "edges": [{"from": [f"n{i}", "out"], "to": [f"n{i + 1}", "in"]} for i in range(1, len(kinds) + 2)]}

    blocks = {f"B{k}": {"description": "", "exposed": [], "graph": chain([f"B{k + 1}"] * width, repeat)} for k in range(depth)}
    blocks[f"B{depth}"] = {"description": "", "exposed": [], "graph": chain(["Identity"])}
    return {"format_version": 3, "name": "nested", "description": "", "graph": chain(["B0"], repeat), "blocks": blocks}
