"""A layer type is one family module: one defined here reaches the palette, the analysis, every export and the import.

The family below (an elementwise inverse hyperbolic sine, which no catalogue family has) is
written the way `studio/graph/catalogue/*.py` writes theirs: a `LayerSpec` with its shape rule,
its PyTorch, Keras, ONNX and Caffe emitters (Caffe has no asinh: it is written as
log(x + sqrt(x^2 + 1)) in Caffe's own layers), and its ONNX import rule. Registering it is the
only step; no other file of the project knows about it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from studio.cli import catalogue_as_json
from studio.codegen.export import export_project
from studio.graph.catalogue import (
    CATALOGUE,
    caffe_records,
    keras_records,
    pytorch_records,
)
from studio.graph.catalogue.base import (
    LayerSpec,
    Params,
    Shape,
    numel,
    targets,
)
from studio.graph.catalogue.onnx_records import OnnxImport, single
from studio.graph.shapes import analyse
from studio.interop.common import import_model
from tests.codegen.cases import layer_project, random_inputs, seeded_model
from tests.codegen.helpers import assert_keras_parity

# Keras 3.15 variables predate numpy 2's __array__(copy=...); loading weights warns inside Keras.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


# ----- the family module, as a contributor would write it -----
def _same(p: Params, ins: list[Shape | None]) -> list[Shape]:
    return [ins[0]]  # type: ignore[list-item]


def _pytorch(site: pytorch_records.Site) -> pytorch_records.Emitted:
    return pytorch_records.Emitted(None, pytorch_records.Call("torch.asinh", (site.x,)))


def _keras(site: keras_records.Site) -> keras_records.Emitted:
    return keras_records.Emitted([keras_records.function(site, "ops.arcsinh(t)")])


def _caffe(site: caffe_records.Site) -> list[caffe_records.Layer]:
    """asinh(x) = log(x + sqrt(x^2 + 1)), from Caffe's Power, Eltwise and Log layers."""
    x, square, root, total = site.bottoms[0], site.blob("square"), site.blob("root"), site.blob("total")

    def power(name: str, bottom: str, fields: caffe_records.Fields) -> caffe_records.Layer:
        return caffe_records.Layer(name, "Power", [bottom], [name], [("power_param", fields)])

    return [
        power(square, x, [("power", 2.0)]),
        power(root, square, [("power", 0.5), ("shift", 1.0)]),
        caffe_records.Layer(total, "Eltwise", [x, root], [total], [("eltwise_param", [("operation", caffe_records.Word("SUM"))])]),
        caffe_records.Layer(site.name, "Log", [total], [site.name]),
    ]


ASINH = LayerSpec(
    type="Asinh",
    category="Math",
    doc="The inverse hyperbolic sine of each element.",
    params=(),
    infer=_same,
    count_macs=lambda p, ins, outs: numel(outs[0]),
    targets=targets("torch.asinh", "ops.arcsinh", "Asinh", "Power, Eltwise, Log"),
    pytorch=_pytorch,
    keras=_keras,
    caffe=_caffe,
    onnx=single("Asinh"),
    onnx_import=(OnnxImport("Asinh"),),
)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(CATALOGUE, ASINH.type, ASINH)
    return ASINH.type


def test_it_is_in_the_palette_data_and_the_analysis(registered: str, qtbot) -> None:
    from studio.ui.palette import PaletteWidget

    assert any(entry["type"] == "Asinh" for entry in catalogue_as_json())
    palette = PaletteWidget()
    qtbot.addWidget(palette)
    palette.set_filter("hyperbolic")
    assert "Asinh" in palette.visible_layer_types()
    project = layer_project("Asinh")
    result = analyse(project.graph).result(project.graph.node_by_name("layer").id)
    assert result.outputs == {"out": (None, 3, 8, 8)} and result.macs == 192


def test_every_export_computes_it_and_the_onnx_file_imports_back(registered: str, tmp_path: Path) -> None:
    project = layer_project("Asinh")
    model = seeded_model(project)
    (x,) = random_inputs(project.graph, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), torch.asinh(x))
    export_project(project, "pytorch", tmp_path / "m.py")
    assert "torch.asinh(x1)" in (tmp_path / "m.py").read_text(encoding="utf-8")
    assert_keras_parity(project, tmp_path)
    export_project(project, "onnx", tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(session.run(None, {"x1": x.numpy()})[0], torch.asinh(x).numpy(), rtol=1e-6)
    export_project(project, "caffe", tmp_path / "m.prototxt")  # read back by the Caffe importer, layer by layer
    from_caffe = import_model(tmp_path / "m.prototxt").project
    with torch.no_grad():
        torch.testing.assert_close(seeded_model(from_caffe)(x), torch.asinh(x), rtol=1e-5, atol=1e-6)
    back = import_model(tmp_path / "m.onnx").project
    assert [n.type for n in back.graph.nodes.values()] == ["Input", "Asinh", "Output"]
    assert [n.name for n in back.graph.nodes.values()][1] == "layer"
