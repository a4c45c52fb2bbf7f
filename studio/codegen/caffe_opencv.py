"""Run an exported Caffe net (prototxt and caffemodel) in OpenCV's dnn Caffe reader, the runtime it is deployed to.

OpenCV 4's reader is the one maintained reader of Caffe files left (OpenCV 5 dropped it); it is
an optional dependency (`.[deploy]`), imported only here, inside the function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class OpenCVRunError(Exception):
    """OpenCV is missing, or it cannot read or run the net; the message says which file and why."""


def load_opencv_caffe(
    prototxt: str | Path, caffemodel: str | Path | None, outputs: Sequence[tuple[str, int]]
) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
    """Read a Caffe net into OpenCV's dnn (on the CPU) once; the function returned runs it on a batch per Input layer, by its name.

    `outputs` says what to read, as (layer name, index of its top): `CaffeNet.output_layers()`
    gives an export's, in the order of its Output nodes. (OpenCV's own list of unconnected
    layers misses a Slice whose unused pieces a Silence layer reads.) Without a caffemodel the
    net runs on OpenCV's zero weights.

    Raises:
        OpenCVRunError: OpenCV is not installed or cannot read the files; the function returned, when it cannot run them on its inputs.
    """
    import numpy as np

    try:
        import cv2
    except ImportError as err:
        raise OpenCVRunError(f"OpenCV is not installed ({err}): pip install 'opencv-python-headless<5'") from None
    try:
        net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel) if caffemodel is not None else None)
    except cv2.error as err:
        raise OpenCVRunError(f"{prototxt}, {caffemodel}: OpenCV cannot read them: {_reason(err)}") from None
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    layers = list(dict.fromkeys(name for name, _ in outputs))

    def run(inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        for name, batch in inputs.items():
            net.setInput(np.ascontiguousarray(batch, dtype=np.float32), name)
        try:
            found = dict(zip(layers, net.forwardAndRetrieve(layers)))
        except cv2.error as err:
            raise OpenCVRunError(f"{prototxt}: OpenCV cannot run it: {_reason(err)}") from None
        return [np.array(found[name][index]) for name, index in outputs]  # a copy: OpenCV reuses its blobs

    return run


def run_opencv_caffe(
    prototxt: str | Path,
    caffemodel: str | Path,
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[tuple[str, int]],
) -> list[np.ndarray]:
    """The outputs of the Caffe net on `inputs` (a batch per Input layer, by its name), run once by `load_opencv_caffe`.

    Raises:
        OpenCVRunError: OpenCV is not installed, or cannot read the files or run them on these inputs.
    """
    return load_opencv_caffe(prototxt, caffemodel, outputs)(inputs)


def _reason(err: Exception) -> str:
    """OpenCV's message without its source path and assertion text: the line that says what went wrong."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return next((line.split("error: ", 1)[-1] for line in lines if "error: " in line), lines[0] if lines else type(err).__name__)
