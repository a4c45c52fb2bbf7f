"""The runtimes an exported file is deployed to, each run on a batch of inputs and timed.

These run in the verification child (`studio.verify.child`): every runtime is imported there, and
only there, so a crash or a clash between runtimes never reaches the editor. A runner takes the
file and the inputs (NumPy arrays, batch first) and returns the outputs in the file's order.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Runner = Callable[[Path, list[np.ndarray]], list[np.ndarray]]


class RuntimeUnavailable(Exception):
    """The runtime a file needs is not installed or cannot read the file; the message says what to do."""


@dataclass(frozen=True)
class Runtime:
    """One runtime: its name on the command line, what the user reads, the package it needs and the file kinds it reads."""

    name: str
    label: str
    package: str
    reads: tuple[str, ...]


RUNTIMES = {
    runtime.name: runtime
    for runtime in (
        Runtime("pytorch", "PyTorch", "torch", ("pytorch",)),
        Runtime("keras", "Keras", "keras", ("keras",)),
        Runtime("onnxruntime", "ONNX Runtime", "onnxruntime", ("onnx",)),
        Runtime("openvino", "OpenVINO (f32)", "openvino", ("onnx",)),
        Runtime("opencv", "OpenCV dnn", "cv2", ("onnx", "caffe")),
        Runtime("litert", "LiteRT", "ai_edge_litert", ("litert",)),
    )
}
DEFAULT_RUNTIME = {"pytorch": "pytorch", "keras": "keras", "onnx": "onnxruntime", "caffe": "opencv", "litert": "litert"}
INSTALL_HINT = "pip install 'layer-studio[deploy]'"


def file_kind(path: Path) -> str:
    """What an exported file is: pytorch, keras, onnx, caffe or litert.

    Raises:
        RuntimeUnavailable: no export of Layer Studio's looks like this file.
    """
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".tflite":
        return "litert"
    if suffix == ".prototxt":
        return "caffe"
    if suffix == ".py":
        text = path.read_text(encoding="utf-8", errors="replace")
        if "torchrun" in text and "def main(" in text:
            raise RuntimeUnavailable(f"{path}: a training script; verify the model it trains from a --to pytorch export")
        if "def build_model(" in text and "import keras" in text:
            return "keras"
        if "def build_model(" in text and "import torch" in text:
            return "pytorch"
        raise RuntimeUnavailable(f"{path}: not a PyTorch or Keras export of Layer Studio's (it defines no build_model)")
    raise RuntimeUnavailable(f"{path}: cannot tell what it is; verify a .py (PyTorch or Keras), .onnx, .tflite or .prototxt export")


def companion(path: Path, kind: str) -> Path | None:
    """The weights file an export wrote beside `path`, which its runtime loads with it."""
    return {
        "pytorch": path.with_suffix(".pt"),
        "keras": path.with_name(path.stem + ".weights.h5"),
        "caffe": path.with_suffix(".caffemodel"),
    }.get(kind)


def check_runtime(runtime: str, kind: str) -> Runtime:
    """The runtime named `runtime`, when it reads files of `kind` and is installed.

    Raises:
        RuntimeUnavailable: unknown, unsuited to the file, or not installed (the message says how to install it).
    """
    found = RUNTIMES.get(runtime)
    if found is None:
        raise RuntimeUnavailable(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if kind not in found.reads:
        suited = ", ".join(name for name, r in RUNTIMES.items() if kind in r.reads)
        raise RuntimeUnavailable(f"{found.label} does not read {kind} files; for those choose {suited}")
    if importlib.util.find_spec(found.package) is None:
        raise RuntimeUnavailable(f"{found.label} is not installed ({found.package}): {INSTALL_HINT}")
    return found


WARM_UP_S = 5.0  # runtimes tune kernels over their first calls (PyTorch on the CPU took 5 slow ones here)
WARM_UP_RUNS = 8


def timed(run: Callable[[], list[np.ndarray]], repeats: int) -> tuple[list[np.ndarray], float]:
    """The outputs of `run` and its median time in seconds over `repeats` runs, after warming up."""
    outputs = run()
    start = time.perf_counter()
    for _ in range(WARM_UP_RUNS - 1):
        if time.perf_counter() - start > WARM_UP_S:
            break
        run()
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return outputs, float(np.median(times))


def prepare(runtime: str, path: Path, weights: Path | None) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """Load `path` (with its `weights` file) in `runtime` once; the result runs it on a batch of inputs."""
    return PREPARERS[runtime](path, weights)


def _pytorch(path: Path, weights: Path | None) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    import torch

    model = _exported_module(path).build_model(str(weights) if weights else None).eval()

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            return _as_list(model(*(torch.from_numpy(x) for x in inputs)))

    return run


def _keras(path: Path, weights: Path | None) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    import os

    from studio.codegen.keras_run import call_model, load_model

    model = load_model(path, weights, os.environ.get("KERAS_BACKEND", "torch"))  # the parent set it for this process
    return lambda inputs: call_model(model, inputs)


def _onnxruntime(path: Path, weights: Path | None) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    from studio.codegen.onnx_runtimes import OnnxRunError, load_onnxruntime

    return _onnx_runner(load_onnxruntime, path, OnnxRunError)


def _openvino(path: Path, weights: Path | None) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    from studio.codegen.onnx_runtimes import OnnxRunError, load_openvino

    return _onnx_runner(load_openvino, path, OnnxRunError)  # at the f32 hint: OpenVINO's bf16 default is up to 4e-3 off


def _onnx_runner(load: Callable[[Path], Callable], path: Path, failure: type[Exception]) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """The runner `load` makes for `path`, its one-line failures (reading or running) as RuntimeUnavailable."""
    try:
        run = load(path)
    except failure as err:
        raise RuntimeUnavailable(str(err)) from None

    def checked(inputs: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return run(inputs)
        except failure as err:
            raise RuntimeUnavailable(str(err)) from None

    return checked


def _opencv(path: Path, weights: Path | None) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    if path.suffix.lower() == ".prototxt":
        from studio.codegen.caffe_opencv import OpenCVRunError, load_opencv_caffe

        try:
            run_caffe = load_opencv_caffe(path, weights, _caffe_outputs(path))
        except OpenCVRunError as err:
            raise RuntimeUnavailable(str(err)) from None
        names = _caffe_inputs(path)
        return lambda inputs: run_caffe(dict(zip(names, inputs, strict=True)))
    import cv2
    import onnx

    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        graph = onnx.load(str(path), load_external_data=False).graph
        initialized = {t.name for t in graph.initializer}
        names = [i.name for i in graph.input if i.name not in initialized]
        pins = [(name, 0) for name in net.getUnconnectedOutLayersNames()]
    except cv2.error as err:
        raise RuntimeUnavailable(f"OpenCV cannot read {path.name}: {_first_line(err)}") from err
    layers = list(dict.fromkeys(name for name, _ in pins))

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        for name, x in zip(names, inputs, strict=True):
            net.setInput(x, name)
        found = dict(zip(layers, net.forwardAndRetrieve(layers)))
        return [np.asarray(found[name][index]) for name, index in pins]

    return run


def _litert(path: Path, weights: Path | None) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    from ai_edge_litert.interpreter import Interpreter

    from studio.codegen.litert import load_litert

    try:
        run_once = load_litert(path)
        detail = Interpreter(model_path=str(path)).get_input_details()[0]
    except ValueError as err:
        raise RuntimeUnavailable(f"LiteRT cannot read {path.name}: {_first_line(err)}") from None
    batch = int(detail["shape"][0]) if len(detail["shape"]) else 1

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        total = len(inputs[0])
        pieces = [run_once([_padded(x[start : start + batch], batch) for x in inputs]) for start in range(0, total, batch)]
        return [np.concatenate([piece[i] for piece in pieces])[:total] for i in range(len(pieces[0]))]  # the static batch's padding dropped

    return run


PREPARERS: dict[str, Callable[[Path, Path | None], Callable[[list[np.ndarray]], list[np.ndarray]]]] = {
    "pytorch": _pytorch,
    "keras": _keras,
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
    "opencv": _opencv,
    "litert": _litert,
}


def _padded(x: np.ndarray, batch: int) -> np.ndarray:
    if len(x) == batch:
        return x
    return np.concatenate([x, np.zeros((batch - len(x), *x.shape[1:]), dtype=x.dtype)])


def _exported_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("layer_studio_verified", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the export Layer Studio wrote
    return module


def _caffe_inputs(path: Path) -> list[str]:
    """The input blob names of a deploy prototxt (`input:` lines, or Input layers' tops), in order."""
    from studio.interop.prototxt import parse

    net = parse(path.read_bytes())
    names = net.texts("input")
    for layer in net.children("layer"):
        if layer.text("type") == "Input":
            names += layer.texts("top")
    return names


def _caffe_outputs(path: Path) -> list[tuple[str, int]]:
    """Each blob of a prototxt that no other layer reads, as (the layer writing it last, its top's index), in file order.

    By blob, not by layer: a Slice whose unused pieces go to a Silence layer still writes an output.
    """
    from studio.interop.prototxt import parse

    layers = [(layer.text("name") or "", layer.texts("bottom"), layer.texts("top")) for layer in parse(path.read_bytes()).children("layer")]
    read = {blob for _, bottoms, tops in layers for blob in bottoms if blob not in tops}
    writer = {top: (name, index) for name, _, tops in layers for index, top in enumerate(tops)}
    return [writer[blob] for blob in dict.fromkeys(top for _, _, tops in layers for top in tops) if blob not in read]


def _as_list(outputs: Any) -> list[np.ndarray]:
    items = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(item.detach().cpu().numpy() if hasattr(item, "detach") else item) for item in items]


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__


__all__ = ["DEFAULT_RUNTIME", "RUNTIMES", "Runtime", "RuntimeUnavailable", "check_runtime", "companion", "file_kind", "prepare", "timed"]
