"""Run an exported ONNX file in the runtimes it is deployed to, ONNX Runtime and OpenVINO, on NumPy inputs.

`layer-studio verify` and the tests share these. Inputs are given in the file's input order (or
by name), outputs come back in its output order. OpenVINO runs at float32 (`INFERENCE_PRECISION_HINT`
f32): on a CPU with bf16 units its default precision is bf16, some 4e-3 off PyTorch, where f32
matches within 1e-6. The runtimes are imported inside the functions (optional: `.[deploy]`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

Inputs = Sequence["np.ndarray"] | Mapping[str, "np.ndarray"]
Runner = Callable[[Inputs], list["np.ndarray"]]


class OnnxRunError(Exception):
    """A runtime that is not installed, or that refuses or fails on a file: the message names both."""


def load_openvino(path: str | Path, device: str = "CPU") -> Runner:
    """The file compiled by OpenVINO at float32, as a function of its inputs (compile once, run often: latency).

    Raises:
        OnnxRunError: OpenVINO is missing, or cannot read or compile the file.
    """
    try:
        import openvino
    except ImportError as err:
        raise OnnxRunError("OpenVINO is not installed: pip install 'layer-studio[deploy]' (or openvino)") from err
    try:
        compiled = openvino.Core().compile_model(str(path), device, {"INFERENCE_PRECISION_HINT": "f32"})
    except Exception as err:  # OpenVINO raises its own RuntimeError subclasses, and more
        raise OnnxRunError(f"OpenVINO cannot read {Path(path).name}: {_first_line(err)}") from err
    names = [port.get_any_name() for port in compiled.inputs]
    request = compiled.create_infer_request()

    def run(inputs: Inputs) -> list[np.ndarray]:
        feed = [inputs[name] for name in names] if isinstance(inputs, Mapping) else list(inputs)
        if len(feed) != len(names):
            raise OnnxRunError(f"{Path(path).name} takes {len(names)} inputs ({', '.join(names)}), not {len(feed)}")
        try:
            result = request.infer(feed)
        except Exception as err:
            raise OnnxRunError(f"OpenVINO failed running {Path(path).name}: {_first_line(err)}") from err
        return [result[port].copy() for port in compiled.outputs]

    return run


def run_openvino(path: str | Path, inputs: Inputs, device: str = "CPU") -> list[np.ndarray]:
    """The file's outputs for `inputs`, computed by OpenVINO at float32 on `device`."""
    return load_openvino(path, device)(inputs)


def load_onnxruntime(path: str | Path) -> Runner:
    """The file in an ONNX Runtime CPU session, as a function of its inputs.

    Raises:
        OnnxRunError: ONNX Runtime is missing, or cannot read or run the file.
    """
    try:
        import onnxruntime
    except ImportError as err:
        raise OnnxRunError("ONNX Runtime is not installed: pip install onnxruntime") from err
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's Fail, InvalidGraph, NotImplemented, ...
        raise OnnxRunError(f"ONNX Runtime cannot read {Path(path).name}: {_first_line(err)}") from err
    names = [value.name for value in session.get_inputs()]

    def run(inputs: Inputs) -> list[np.ndarray]:
        feed = dict(inputs) if isinstance(inputs, Mapping) else dict(zip(names, inputs))
        if sorted(feed) != sorted(names) or (not isinstance(inputs, Mapping) and len(inputs) != len(names)):
            raise OnnxRunError(f"{Path(path).name} takes the inputs {', '.join(names)}")
        try:
            return list(session.run(None, feed))
        except Exception as err:
            raise OnnxRunError(f"ONNX Runtime failed running {Path(path).name}: {_first_line(err)}") from err

    return run


def run_onnxruntime(path: str | Path, inputs: Inputs) -> list[np.ndarray]:
    """The file's outputs for `inputs`, computed by ONNX Runtime on the CPU."""
    return load_onnxruntime(path)(inputs)


def _first_line(err: BaseException) -> str:
    """The first line that says something: OpenVINO nests its message under headers (source locations, ending in ':')."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    told = [line for line in lines if not line.endswith(":")]
    return (told or lines or [type(err).__name__])[0]
