"""Every model the import tests bring in also leaves again: written with its weights file, exported to each target that can express it.

The export goes the user's way: the imported project and its `.weights.npz` are written as
`layer-studio import` writes them, and `export_project` reads that file back. The PyTorch
export must hold the imported numbers exactly, the ONNX export must compute what the
generated model computes, and the Keras and Caffe exports must be written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.codegen.export import export_project, keras_weights_path
from studio.codegen.names import CodegenError
from studio.codegen.weights import by_attribute
from studio.graph.catalogue import CATALOGUE
from studio.graph.flatten import flatten
from studio.graph.shapes import analyse
from studio.interop.caffe_import import import_caffe
from studio.interop.common import ImportedModel, write_imported
from studio.interop.onnx_import import import_onnx
from tests.interop import modern_models as mm
from tests.interop import onnx_models as om
from tests.interop.caffemodels import BN_NET, layer, rand

TARGETS = ("pytorch", "keras", "onnx", "caffe")
SMALL_CLASSICS = {  # builder, image size: the classics of test_onnx_import that export in a second
    "densenet_concat": (om.DenseNet, 16),
    "shufflenet_shuffle": (om.shufflenet, 16),
    "inception_module": (om.InceptionNet, 32),
}
POOL_NET = """input: "x" input_shape { dim: 1 dim: 2 dim: 9 dim: 9 }
layer { name: "conv" type: "Convolution" bottom: "x" top: "conv" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "max" type: "Pooling" bottom: "conv" top: "max" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "ave" type: "Pooling" bottom: "max" top: "ave" pooling_param { pool: AVE kernel_size: 2 stride: 2 pad: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "ave" top: "fc" inner_product_param { num_output: 3 } }
"""


def _onnx_operator_case(name: str) -> Callable[[Path], ImportedModel]:
    return lambda folder: import_onnx(om.save(om.OPERATOR_CASES[name][0](), folder / f"{name}.onnx"))


def _torch_case(make: Callable[[], torch.nn.Module], size: tuple[int, ...], dynamo: bool) -> Callable[[Path], ImportedModel]:
    def build(folder: Path) -> ImportedModel:
        torch.manual_seed(0)
        model = mm.randomized(make())
        path = om.export_torch(model, torch.randn(2, *size), folder / "model.onnx", 18 if dynamo else 17, dynamo)
        return import_onnx(path)

    return build


def _caffe_case(net: str, blobs: dict[str, list[np.ndarray]], **options: bool) -> Callable[[Path], ImportedModel]:
    def build(folder: Path) -> ImportedModel:
        (folder / "net.prototxt").write_text(net)
        (folder / "net.caffemodel").write_bytes(b"".join(layer(n, arrays, **options) for n, arrays in blobs.items()))
        return import_caffe(folder / "net.prototxt")

    return build


CASES: dict[str, Callable[[Path], ImportedModel]] = {
    **{f"onnx_{name}": _onnx_operator_case(name) for name in om.OPERATOR_CASES},
    **{f"classic_{name}": _torch_case(make, (3, size, size), False) for name, (make, size) in SMALL_CLASSICS.items()},
    **{f"{name}_torchscript": _torch_case(make, size, False) for name, (make, size) in mm.IMAGE_MODELS.items()},
    **{f"{name}_dynamo": _torch_case(make, size, True) for name, (make, size) in mm.IMAGE_MODELS.items()},
    "caffe_batch_norm": _caffe_case(
        BN_NET,
        {
            "conv": [rand(4, 3, 1, 1)],
            "bn": [rand(4), np.abs(rand(4, seed=1)) + 0.5, np.array([1.0], np.float32)],
            "scale": [rand(4, seed=2), rand(4, seed=3)],
            "prelu": [np.abs(rand(4, seed=4)) * 0.2],
            "fc": [rand(64, 3), rand(3, seed=5)],
        },
    ),
    "caffe_pooling": _caffe_case(POOL_NET, {"conv": [rand(4, 2, 3, 3), rand(4)], "fc": [rand(3, 36), rand(3)]}),
}


VALUE_REFUSALS = {  # (case, target): words of the refusal, for values a target cannot express though it has the layer type
    ("onnx_padded_convolutions", "keras"): "padding_mode 'reflect'",
    ("onnx_padded_pooling", "keras"): "ceil_mode",
    ("onnx_caffe_style_pooling", "keras"): "ceil_mode",
    ("classic_inception_module", "keras"): "ceil_mode",
}


def expressible_targets(imported: ImportedModel) -> list[str]:
    """The targets whose catalogue entries express every layer of the imported graph."""
    types = {node.type for node in flatten(imported.project.graph).nodes.values()}
    return [t for t in TARGETS if all(CATALOGUE[kind].target_info()[t] is True for kind in types)]


@pytest.mark.parametrize("case", CASES)
def test_imported_model_exports_to_every_target_that_expresses_it(case: str, tmp_path: Path) -> None:
    imported = CASES[case](tmp_path)
    assert analyse(imported.project.graph).is_valid
    written = write_imported(imported, tmp_path / "imported.lstudio")
    weights = written[1] if imported.state else None
    targets = expressible_targets(imported)
    assert "pytorch" in targets and "onnx" in targets
    reference = om.generated_model(imported)
    for target in targets:
        out = tmp_path / target / ("model.onnx" if target == "onnx" else "model.prototxt" if target == "caffe" else "model.py")
        out.parent.mkdir()
        if (case, target) in VALUE_REFUSALS:
            with pytest.raises(CodegenError, match=VALUE_REFUSALS[case, target]):
                export_project(imported.project, target, out, weights=weights)
            continue
        export_project(imported.project, target, out, weights=weights)
        if target == "pytorch":
            saved = torch.load(out.with_suffix(".pt"), weights_only=True)
            state = by_attribute(imported.state, imported.project)
            assert set(saved) == set(state)
            for key, value in state.items():
                assert tuple(saved[key].shape) == np.shape(value), key
                np.testing.assert_array_equal(saved[key].numpy(), value, err_msg=key)
        elif target == "onnx":
            _assert_onnx_computes_like(out, reference)
        elif target == "keras":
            assert keras_weights_path(out).stat().st_size > 0 and out.read_text()
        else:
            assert "layer {" in out.read_text()


def _assert_onnx_computes_like(path: Path, reference: torch.nn.Module) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    xs = om.sample_inputs(session, 2)
    got = session.run(None, {v.name: x.numpy() for v, x in zip(session.get_inputs(), xs)})
    with torch.no_grad():
        expected = reference(*xs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-4, atol=1e-5)
