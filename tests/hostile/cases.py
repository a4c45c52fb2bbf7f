"""The hostile inputs of issue 19, and the ones that held before it: each a generator and what `layer-studio` must answer."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper

from tests.hostile.inputs import (
    FC_PROTOTXT,
    Maker,
    Setup,
    caffe_blob,
    caffemodel,
    constant,
    deep_json,
    fifo,
    float_input,
    int_vector,
    link,
    nested_blocks,
    npz_bomb,
    npz_declaring,
    onnx_model,
    pickle_bomb,
    project_json,
    small_project,
)
from tests.hostile.limited import MEMORY


@dataclass(frozen=True)
class Case:
    """One hostile input: how to make it, the exit status it gets, and the memory and time it may take."""

    name: str
    make: Maker
    status: int = 2
    memory: int = MEMORY
    timeout: float = 60.0


def _export(out: str = "out.py", target: str = "pytorch", *extra: str) -> list[str]:
    return ["export", "net.lstudio", "--to", target, "-o", out, *extra]


# ----- files that are not files (item 1) -----
def fifo_project(d):
    return Setup(["check", str(fifo(d / "net.lstudio"))])


def fifo_weights(d):
    small_project(d)
    fifo(d / "w.pt")
    return Setup(_export("out.py", "pytorch", "--weights", "w.pt"), [d / "out.py", d / "out.pt", d / "w.pt"], ("w.pt",))


def fifo_training_weights(d):
    small_project(d, init="weights", weights="w.npz")
    fifo(d / "w.npz")
    return Setup(_export(), [d / "out.py", d / "out.pt"], ("w.npz",))


def fifo_prototxt(d):
    return Setup(["import", str(fifo(d / "net.prototxt")), "-o", "out.lstudio"], [d / "out.lstudio"], ("net.prototxt",))


def fifo_caffemodel(d):
    (d / "net.prototxt").write_text(FC_PROTOTXT.format(n=4, m=3))
    fifo(d / "net.caffemodel")
    return Setup(["import", "net.prototxt", "-o", "out.lstudio"], [d / "out.lstudio"], ("net.caffemodel",))


def fifo_onnx(d):
    return Setup(["import", str(fifo(d / "m.onnx")), "-o", "out.lstudio"], [d / "out.lstudio"], ("m.onnx",))


def fifo_external_data(d):
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    weight.external_data.add(key="location", value="w.bin")
    fifo(d / "w.bin")
    onnx_model(d, [helper.make_node("Add", ["x", "w"], ["y"])], [float_input("x", ["N", 4])], [weight])
    return Setup(["import", "model.onnx", "-o", "out.lstudio"], [d / "out.lstudio"], ("w.bin",))


def fifo_dataset(d):
    small_project(d)
    fifo(d / "data.npz")
    return Setup(["train", "net.lstudio", "--dataset", "data.npz", "--epochs", "1", "--out", "runs"], [d / "runs"], ("data.npz",))


def zero_prototxt(d):
    return Setup(["import", str(link(d / "net.prototxt", "/dev/zero")), "-o", "out.lstudio"], [d / "out.lstudio"], ("net.prototxt",))


def zero_onnx(d):
    return Setup(["import", str(link(d / "m.onnx", "/dev/zero")), "-o", "out.lstudio"], [d / "out.lstudio"], ("m.onnx",))


def zero_project(d):
    return Setup(["check", str(link(d / "net.lstudio", "/dev/zero"))], [], ("net.lstudio",))


def zero_weights(d):
    small_project(d)
    link(d / "w.npz", "/dev/zero")
    return Setup(_export("out.py", "pytorch", "--weights", "w.npz"), [d / "out.py", d / "out.pt"], ("w.npz",))


# ----- export targets that are not files (item 2) -----
def export_onto_fifo(d):
    small_project(d)
    fifo(d / "out.onnx")
    return Setup(_export("out.onnx", "onnx"), [d / "out.onnx"], ("out.onnx",))


def export_companion_fifo(d):
    small_project(d)
    fifo(d / "out.pt")
    return Setup(_export(), [d / "out.py", d / "out.pt"], ("out.pt",))


def export_through_link_to_fifo(d):
    small_project(d)
    fifo(d / "pipe")
    link(d / "out.py", d / "pipe")
    return Setup(_export(), [d / "out.py", d / "pipe", d / "out.pt"], ("out.py",))


def import_onto_fifo(d):
    (d / "net.prototxt").write_text(FC_PROTOTXT.format(n=4, m=3))
    return Setup(["import", "net.prototxt", "-o", str(fifo(d / "out.lstudio"))], [d / "out.lstudio"], ("out.lstudio",))


def export_onto_folder(d):
    small_project(d)
    (d / "out.onnx").mkdir()
    return Setup(_export("out.onnx", "onnx"), [d / "out.onnx"], ("out.onnx",))


def export_half_writable(d):
    """The code cannot be written (a folder has its name): the weights beside it must stay the old ones."""
    small_project(d)
    (d / "out.py").mkdir()
    (d / "out.pt").write_bytes(b"the weights of an earlier export")
    return Setup(_export(), [d / "out.py", d / "out.pt"], ("out.py",))


# ----- weights, networks and checkpoints (items 3-5, and pickles and zip bombs, which held) -----
def text_weights(d):
    small_project(d)
    (d / "notes.txt").write_text("these are not weights\n")
    return Setup(_export("out.py", "pytorch", "--weights", "notes.txt"), [d / "out.py", d / "out.pt"], ("notes.txt",))


def lying_npz(d):
    small_project(d)
    npz_declaring(d / "w.npz", "fc.weight", (2**31,))
    return Setup(_export("out.py", "pytorch", "--weights", "w.npz"), [d / "out.py", d / "out.pt"], ("w.npz",))


def zip_bomb_npz(d):
    small_project(d)
    npz_bomb(d / "w.npz", "fc.weight", 2**26)
    return Setup(_export("out.py", "pytorch", "--weights", "w.npz"), [d / "out.py", d / "out.pt"], ("w.npz",))


def pickled_code(d):
    small_project(d)
    pickle_bomb(d / "w.pt")
    return Setup(_export("out.py", "pytorch", "--weights", "w.pt"), [d / "out.py", d / "out.pt"], ("w.pt",))


def huge_linear(d):
    small_project(d, features=10**6, width=10**6)
    return Setup(_export(), [d / "out.py", d / "out.pt"], ("TiB",))


def huge_linear_train(d):
    small_project(d, features=10**6, width=10**6)
    return Setup(["train", "net.lstudio", "--epochs", "1", "--out", "runs"], [d / "runs"], ("TiB",))


def huge_caffemodel(d):
    (d / "net.prototxt").write_text(FC_PROTOTXT.format(n=10**6, m=10**6))
    (d / "net.caffemodel").write_bytes(caffemodel("fc", [caffe_blob([10**6, 10**6], b"\0" * 64)]))
    return Setup(["import", "net.prototxt", "-o", "out.lstudio"], [d / "out.lstudio"], ("net.caffemodel",))


def _checkpoint(**fields: object) -> Maker:
    def make(d):
        import torch

        small_project(d)
        state = {"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3)}
        good = {"kind": "layer-studio-checkpoint", "version": 1, "model": state, "optimizer": {"state": {}, "param_groups": []}, "optimizer_name": "adam", "scaler": None, "epoch": 1, "partial": False, "best_loss": 1.0, "best_epoch": 1, "bad_epochs": 0, "settings": {}}
        torch.save({k: v for k, v in {**good, **fields}.items() if v is not _MISSING}, d / "last.pt")
        return Setup(["train", "net.lstudio", "--resume", "last.pt", "--epochs", "2", "--out", "runs"], [d / "runs", d / "last.pt"], ("last.pt",))

    return make


_MISSING = object()


# ----- ONNX and Caffe import (items 6-10) -----
def external_offset_not_a_number(d):
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in {"location": "w.bin", "offset": "abc"}.items():
        weight.external_data.add(key=key, value=value)
    (d / "w.bin").write_bytes(bytes(16))
    onnx_model(d, [helper.make_node("Add", ["x", "w"], ["y"])], [float_input("x", ["N", 4])], [weight])
    return Setup(["import", "model.onnx", "-o", "out.lstudio"], [d / "out.lstudio"], ("offset",))


def external_outside_the_folder(d):
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    weight.external_data.add(key="location", value="../../../../../../etc/hostname")
    onnx_model(d, [helper.make_node("Add", ["x", "w"], ["y"])], [float_input("x", ["N", 4])], [weight])
    return Setup(["import", "model.onnx", "-o", "out.lstudio"], [d / "out.lstudio"], ("model.onnx",))


def function_bomb(d):
    """Ten nested local functions, each calling the one below ten times: 10^10 nodes once inlined."""
    functions = [helper.make_function("local", "f0", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], [helper.make_opsetid("", 17)])]
    for level in range(1, 10):
        calls = [helper.make_node(f"f{level - 1}", ["a" if i == 0 else f"t{i - 1}"], ["b" if i == 9 else f"t{i}"], domain="local") for i in range(10)]
        functions.append(helper.make_function("local", f"f{level}", ["a"], ["b"], calls, [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]))
    onnx_model(d, [helper.make_node("f9", ["x"], ["y"], domain="local")], [float_input("x", ["N", 4])], functions=functions)
    return Setup(["import", "model.onnx", "-o", "out.lstudio"], [d / "out.lstudio"], ("model.onnx",))


def _folding(nodes: list, initializers: list) -> Maker:
    def make(d):
        onnx_model(d, [*nodes, helper.make_node("Add", ["x", "big"], ["y"])], [float_input("x", ["N", 4])], initializers)
        return Setup(["import", "model.onnx", "-o", "out.lstudio"], [d / "out.lstudio"], ("model.onnx",))

    return make


COLUMN, ROW = constant("column", np.zeros((32768, 1), "f4")), constant("row", np.zeros((1, 32768), "f4"))
FOLDING = {
    "fold-broadcast-add": _folding([helper.make_node("Add", ["column", "row"], ["big"])], [COLUMN, ROW]),
    "fold-matmul-outer": _folding([helper.make_node("MatMul", ["column", "row"], ["big"])], [COLUMN, ROW]),
    "fold-expand": _folding([helper.make_node("Expand", ["column", "shape"], ["big"])], [COLUMN, int_vector("shape", [32768, 32768])]),
    "fold-constant-of-shape": _folding([helper.make_node("ConstantOfShape", ["shape"], ["big"])], [int_vector("shape", [65536, 65536])]),
    "fold-tile": _folding([helper.make_node("Tile", ["column", "reps"], ["big"])], [COLUMN, int_vector("reps", [1, 32768])]),
    "fold-concat-doublings": _folding(
        [helper.make_node("Concat", [f"c{i}", f"c{i}"], [f"c{i + 1}" if i < 29 else "big"], axis=0) for i in range(30)], [constant("c0", np.zeros((4,), "f4"))]
    ),
}


def _ranks(nodes: list, inputs: list, initializers: list | None = None) -> Maker:
    def make(d):
        onnx_model(d, nodes, inputs, initializers)
        return Setup(["import", "model.onnx", "-o", "out.lstudio"], [d / "out.lstudio"], ("model.onnx", "dimensions", "at most 64"))

    return make


def _rank_doublings(count: int) -> list:
    """Each Gather reads the last value by its own entries as indices: the rank doubles, and shape inference builds every dimension."""
    nodes, last = [], "x"
    for i in range(count):
        nodes += [helper.make_node("Cast", [last], [f"i{i}"], to=TensorProto.INT64), helper.make_node("Gather", [last, f"i{i}"], [f"g{i}"], axis=1)]
        last = f"g{i}"
    return [*nodes, helper.make_node("Relu", [last], ["y"])]


_DEEP_INDICES = helper.make_tensor("deep", TensorProto.INT64, [1] * 40, [0])
RANKS = {  # a 1.5 KB file of 22 doublings took 21 s and 1.7 GB; 23 ran out of 3 GB; NumPy's take crashed on the folded one
    "rank-doubling-gathers": _ranks(_rank_doublings(40), [float_input("x", ["N", 1])]),
    "rank-folded-gathers": _ranks(
        [helper.make_node("Gather", ["c", "deep"], ["g0"]), helper.make_node("Gather", ["g0", "deep"], ["g1"]), helper.make_node("Add", ["x", "g1"], ["y"])],
        [float_input("x", ["N", 4])],
        [constant("c", np.zeros((4,), "f4")), _DEEP_INDICES],
    ),
}


def sparse_external(d):
    values = TensorProto(name="values", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in {"location": "sparse.bin", "offset": "0", "length": str(2**32)}.items():
        values.external_data.add(key=key, value=value)
    (d / "sparse.bin").write_bytes(bytes(16))
    sparse = helper.make_sparse_tensor(values, helper.make_tensor("indices", TensorProto.INT64, [4], [0, 1, 2, 3]), [2**30])
    graph = helper.make_graph([helper.make_node("Add", ["x", "values"], ["y"])], "sparse", [float_input("x", ["N", 4])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], sparse_initializer=[sparse])
    (d / "model.onnx").write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return Setup(["import", "model.onnx", "-o", "out.lstudio"], [d / "out.lstudio"], ("model.onnx",))


def transposed_blob_misfit(d):
    (d / "net.prototxt").write_text(FC_PROTOTXT.format(n=12, m=5).replace("num_output: 5", "num_output: 5 transpose: true"))
    (d / "net.caffemodel").write_bytes(caffemodel("fc", [caffe_blob([60], bytes(240))]))
    return Setup(["import", "net.prototxt", "-o", "out.lstudio"], [d / "out.lstudio"], ("net.caffemodel",))


def deep_prototxt(d):
    (d / "net.prototxt").write_text("layer { " * 100_000 + "}" * 100_000)
    return Setup(["import", "net.prototxt", "-o", "out.lstudio"], [d / "out.lstudio"], ("net.prototxt",))


def deep_project(d):
    return Setup(["check", str(project_json(d / "net.lstudio", deep_json(100_000)))], [], ("net.lstudio",))


def csv_of_five_million_columns(d):
    small_project(d)
    (d / "wide.csv").write_text(",".join(["1"] * 5_000_000) + "\n")
    return Setup(["train", "net.lstudio", "--dataset", "wide.csv", "--epochs", "1", "--out", "runs"], [d / "runs"], ("wide.csv",))


def seed_past_64_bits(d):
    small_project(d)
    return Setup(_export("out.py", "pytorch", "--seed", str(10**30)), [d / "out.py", d / "out.pt"], ("--seed",))


def block_bomb(d):
    """15 blocks, each four instances of the next: 2^30 layers in 3 KiB, which the `check` table and a flat export would expand."""
    project_json(d / "net.lstudio", json.dumps(nested_blocks(15, 4)))
    return Setup(["check", "net.lstudio"], [], ("net.lstudio", "1,073,741,826 layers"))


def block_bomb_export(d):
    project_json(d / "net.lstudio", json.dumps(nested_blocks(15, 4)))
    return Setup(_export("out.onnx", "onnx"), [d / "out.onnx"], ("net.lstudio", "1,000,000"))


def deep_blocks(d):
    """1,500 blocks each holding the next: the analysis of instances recursed past Python's limit."""
    project_json(d / "net.lstudio", json.dumps(nested_blocks(1500, 1)))
    return Setup(["check", "net.lstudio"], [], ("net.lstudio", "nest 1,501 deep"))


def project_not_json(d):
    (d / "net.lstudio").write_bytes(bytes(range(256)) * 64)
    return Setup(["check", "net.lstudio"], [], ("net.lstudio",))


CASES = [
    Case("fifo-project", fifo_project, timeout=20),
    Case("fifo-weights", fifo_weights, timeout=20),
    Case("fifo-training-weights", fifo_training_weights, timeout=20),
    Case("fifo-prototxt", fifo_prototxt, timeout=20),
    Case("fifo-caffemodel", fifo_caffemodel, timeout=20),
    Case("fifo-onnx", fifo_onnx, timeout=20),
    Case("fifo-external-data", fifo_external_data, timeout=20),
    Case("fifo-dataset", fifo_dataset, timeout=20),
    Case("zero-prototxt", zero_prototxt),
    Case("zero-onnx", zero_onnx),
    Case("zero-project", zero_project),
    Case("zero-weights", zero_weights),
    Case("export-onto-fifo", export_onto_fifo, timeout=20),
    Case("export-companion-fifo", export_companion_fifo, timeout=20),
    Case("export-through-link-to-fifo", export_through_link_to_fifo, timeout=20),
    Case("import-onto-fifo", import_onto_fifo, timeout=20),
    Case("export-onto-folder", export_onto_folder),
    Case("export-half-writable", export_half_writable),
    Case("text-weights", text_weights),
    Case("lying-npz-header", lying_npz),
    Case("zip-bomb-npz", zip_bomb_npz, memory=2 * 2**30),
    Case("pickled-code", pickled_code),
    Case("huge-linear-export", huge_linear),
    Case("huge-linear-train", huge_linear_train),
    Case("huge-caffemodel", huge_caffemodel),
    Case("checkpoint-epoch-missing", _checkpoint(epoch=_MISSING)),
    Case("checkpoint-epoch-text", _checkpoint(epoch="three")),
    Case("checkpoint-epoch-nan", _checkpoint(epoch=float("nan"))),
    Case("checkpoint-epoch-negative", _checkpoint(epoch=-7)),
    Case("checkpoint-optimizer-list", _checkpoint(optimizer=[1, 2, 3])),
    Case("external-offset-not-a-number", external_offset_not_a_number),
    Case("external-outside-the-folder", external_outside_the_folder),
    Case("function-bomb", function_bomb),
    *[Case(name, make) for name, make in FOLDING.items()],
    *[Case(name, make, timeout=30) for name, make in RANKS.items()],
    Case("sparse-external-tensor", sparse_external),
    Case("transposed-blob-misfit", transposed_blob_misfit),
    Case("deep-prototxt", deep_prototxt),
    Case("deep-project", deep_project),
    Case("project-not-json", project_not_json),
    Case("block-bomb", block_bomb, timeout=30),
    Case("block-bomb-export", block_bomb_export, timeout=30),
    Case("deep-blocks", deep_blocks, timeout=30),
    Case("csv-of-five-million-columns", csv_of_five_million_columns),
    Case("seed-past-64-bits", seed_past_64_bits),
]
