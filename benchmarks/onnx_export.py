"""How fast the ONNX export writes a graph, straight from the graph versus through torch.onnx.

For residual MLPs of 100 and 1,000 nodes (every layer has an ONNX emitter) it times, best of a
few runs: the PyTorch source (the baseline, as `codegen_speed.py` measures it), the direct ONNX
writer alone on a ready state dict, the whole `export_project(..., "onnx")` (which also builds the
seeded PyTorch model for the weights and runs onnx.checker), and the same export forced through
torch.onnx (the path before issue 12; 100 nodes only unless --traced-1000, it takes long).
Goal of issue 12: the ONNX export in milliseconds. Ratios are to the PyTorch source in the same run.
Run: .venv/bin/python benchmarks/onnx_export.py [--traced-1000]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph_scale import best, build, machine

from studio.codegen import onnx_export
from studio.codegen.export import build_torch_model, export_project
from studio.codegen.onnx_writer import onnx_model, writable
from studio.codegen.pytorch import generate_pytorch
from studio.graph.catalogue.base import Inexpressible
from studio.graph.project import Project
from studio.graph.shapes import snapshot_analysis


def once(step: Callable[[], object]) -> float:
    began = time.perf_counter()
    step()
    return (time.perf_counter() - began) * 1000


def _no_direct_form(*args: object) -> None:
    raise Inexpressible("every layer, for this measurement")


def measure(size: int, folder: Path, traced: bool) -> str:
    """One table row: the times for a residual MLP of `size` nodes."""
    project = Project(name=f"scale_{size}", graph=build(size).graph)
    assert writable(project)
    source_ms = best(5, lambda: generate_pytorch(project))
    state = {k: v.detach().numpy() for k, v in build_torch_model(generate_pytorch(project), 0).state_dict().items()}
    analysis = snapshot_analysis(project.graph)
    io = onnx_export.io_names(project, analysis)
    writer_ms = best(5, lambda: onnx_model(project, analysis, state, io, onnx_export.DEFAULT_OPSET, "scale"))
    out = folder / f"scale_{size}.onnx"
    direct_ms = best(3, lambda: export_project(project, "onnx", out))
    shown, ratio = "-", ""
    if traced:
        real = onnx_export.onnx_model
        onnx_export.onnx_model = _no_direct_form  # the torch.onnx path, as before issue 12
        try:
            traced_ms = once(lambda: export_project(project, "onnx", out))
        finally:
            onnx_export.onnx_model = real
        shown, ratio = f"{traced_ms:,.0f} ms", f"{traced_ms / source_ms:.0f}"
    return (
        f"{size:>6,}  {source_ms:>12.1f} ms  {writer_ms:>9.1f} ms  {writer_ms / source_ms:>6.2f}  "
        f"{direct_ms:>13.1f} ms  {direct_ms / source_ms:>6.2f}  {shown:>20}  {ratio:>7}"
    )


def main() -> int:
    traced_sizes = (100, 1_000) if "--traced-1000" in sys.argv else (100,)
    print(f"Machine: {machine()}\n")
    print(
        f"{'nodes':>6}  {'PyTorch source':>15}  {'ONNX writer':>12}  {'ratio':>6}  {'export (direct)':>16}  "
        f"{'ratio':>6}  {'export (torch.onnx)':>20}  {'ratio':>7}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for size in (100, 1_000):
            print(measure(size, Path(folder), size in traced_sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
