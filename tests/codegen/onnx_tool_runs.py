"""Run every ONNX file of a folder in one tool, in a child process of its own: `python -m tests.codegen.onnx_tool_runs TOOL DIR`.

For each `<case>.onnx` it reads the inputs `<case>.in.npz` (x0, x1, ...), writes the tool's outputs
to `<case>.<tool>.npz` (y0, y1, ...), and prints one JSON object: case -> null (ran) or the
error's first line. Tools: `openvino` (float32, through `studio.codegen.onnx_runtimes`) and
`onnx2torch` (the file converted to a torch.fx module and run by PyTorch).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np

TOOLS = ("openvino", "onnx2torch")


def stub_torchvision() -> None:
    """Put a `torchvision` that raises when used in sys.modules, for onnx2torch.

    onnx2torch imports torchvision at import time, for its NMS and RoiAlign converters only; the
    project installs it without torchvision, whose PyPI build breaks the CPU torch. No exported
    file holds those operators, and a converter that did touch the stub would fail loudly.
    """

    def missing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("torchvision is not installed (a stand-in for onnx2torch's NMS and RoiAlign converters)")

    vision = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    ops.nms = ops.batched_nms = ops.roi_align = missing  # type: ignore[attr-defined]
    vision.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = vision, ops


def runner(tool: str):  # type: ignore[no-untyped-def]
    """A function (path, inputs) -> outputs for `tool`."""
    if tool == "openvino":
        from studio.codegen.onnx_runtimes import run_openvino

        return run_openvino
    stub_torchvision()
    import onnx
    import torch
    from onnx2torch import convert

    def run(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
        module = convert(onnx.load(path)).eval()
        with torch.no_grad():
            got = module(*(torch.from_numpy(x) for x in inputs))
        return [g.numpy() for g in (got if isinstance(got, (tuple, list)) else (got,))]

    return run


def main(tool: str, folder: Path) -> dict[str, str | None]:
    run = runner(tool)
    results: dict[str, str | None] = {}
    for path in sorted(folder.glob("*.onnx")):
        case = path.stem
        stored = np.load(folder / f"{case}.in.npz")
        inputs = [stored[f"x{i}"] for i in range(len(stored.files))]
        try:
            outputs = run(path, inputs)
        except Exception as err:  # noqa: BLE001 - the tool's refusal, whatever its type, is the result
            text = str(err).strip() or type(err).__name__
            results[case] = f"{type(err).__name__}: {text.splitlines()[0]}"
            continue
        np.savez(folder / f"{case}.{tool}.npz", **{f"y{i}": y for i, y in enumerate(outputs)})
        results[case] = None
    return results


if __name__ == "__main__":
    import logging
    import warnings

    warnings.simplefilter("ignore")  # onnx2torch's notes on its own conversions
    logging.disable(logging.WARNING)
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]))))
