"""What the real-model test and benchmark do to one model: random weights, the two exports, the counts, the parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.codegen.onnx_export import onnx_bytes
from tests.interop import onnx_models as om

EXPORTERS = {"torchscript": (False, 17), "dynamo": (True, 18)}


def randomized(model: nn.Module, sample: torch.Tensor, seed: int = 0) -> nn.Module:
    """The model in eval mode with every weight drawn at random and BatchNorm statistics taken from `sample`, as a trained one has them.

    Weights are drawn at the scale that keeps activations near 1 (so a deep model's outputs neither vanish nor blow up), and no
    two tensors are equal: the dynamo exporter shares equal initializers and drops zero biases, which a fresh model is full of.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith("weight") and parameter.dim() > 1:  # convolutions and dense layers
                parameter.copy_(noise / (parameter[0].numel() ** 0.5))
            elif name.endswith("weight"):  # normalization scales
                parameter.copy_(1 + 0.1 * noise)
            else:  # biases, tokens, tables, layer scales
                parameter.copy_(0.1 * noise)
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # one batch sets the statistics
        model.train()
        model(sample)
    return model.eval()


def sample(shape: tuple[int, ...], batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))


def torch_counts(model: nn.Module) -> tuple[int, int]:
    """Learnable parameters, and those plus the buffers the imported project holds: float buffers (BatchNorm's statistics)
    and BatchNorm's step count, which the project's BatchNorm keeps as PyTorch's does; integer index buffers are not weights."""
    learned = sum(p.numel() for p in model.parameters())
    held = sum(b.numel() for name, b in model.named_buffers() if b.is_floating_point() or name.endswith("num_batches_tracked"))
    return learned, learned + held


def file_floats(path: Path) -> int:
    """The float values the ONNX file holds as initializers of more than one value: its weights, as the exporter wrote (or
    folded) them; single values are the exporters' scalar constants (a scale, an epsilon), which layers hold as parameters."""
    import onnx

    sizes = (int(np.prod(t.dims)) for t in onnx.load(str(path)).graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    return sum(size for size in sizes if size > 1)


def imported_floats(imported: object) -> int:
    return sum(v.size for v in imported.state.values() if v.dtype == np.float32 and v.size > 1)  # type: ignore[attr-defined]


def fixed_values(imported: object) -> int:
    """Values the imported project holds in Constant layers: what the file computes from constants (Swin's window masks)."""
    from studio.graph.flatten import flatten
    from studio.graph.shapes import analyse

    graph = flatten(imported.project.graph)  # type: ignore[attr-defined]  # Constants inside blocks count too
    analysis = analyse(graph)
    return sum(analysis.result(n.id).buffers for n in graph.nodes.values() if n.type == "Constant")


def export(model: nn.Module, x: torch.Tensor, path: Path, exporter: str) -> Path:
    """`model` written by one of torch.onnx's exporters, batch dynamic, BatchNorm kept as it is (not folded into convolutions)."""
    dynamo, opset = EXPORTERS[exporter]
    return om.export_torch(model, x, path, opset, dynamo)


def as_tuple(value: object) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)  # type: ignore[return-value]


def relative_error(got: tuple[torch.Tensor, ...], expected: list[np.ndarray]) -> float:
    """The largest difference over every output, relative to the output's largest magnitude."""
    assert len(got) == len(expected), f"{len(got)} outputs, ONNX Runtime gives {len(expected)}"
    worst = 0.0
    for g, e in zip(got, expected):
        reference = torch.from_numpy(np.asarray(e))
        assert g.shape == reference.shape, f"shape {tuple(g.shape)}, ONNX Runtime gives {tuple(reference.shape)}"
        worst = max(worst, float((g - reference).abs().max() / reference.abs().max().clamp_min(1e-12)))
    return worst


def run(source: Path | bytes, xs: list[torch.Tensor]) -> list[np.ndarray]:
    """ONNX Runtime's outputs of `source` for `xs`, fed to its inputs in order."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(source) if isinstance(source, Path) else source, providers=["CPUExecutionProvider"])
    return session.run(None, {v.name: x.numpy() for v, x in zip(session.get_inputs(), xs)})


def parity(path: Path, imported: object, batch: int = 3) -> tuple[float, float]:
    """Relative errors against ONNX Runtime on the original file, at another batch size than the export's, of (a) the generated
    PyTorch code holding the imported weights and (b) ONNX Runtime on the imported project's own ONNX export."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = om.sample_inputs(session, batch)
    expected = session.run(None, {v.name: x.numpy() for v, x in zip(session.get_inputs(), xs)})
    model = om.generated_model(imported)
    with torch.no_grad():
        generated = as_tuple(model(*xs))
    again = run(onnx_bytes(imported.project, model), xs)  # type: ignore[attr-defined]
    return relative_error(generated, expected), relative_error(tuple(torch.from_numpy(a) for a in again), expected)
