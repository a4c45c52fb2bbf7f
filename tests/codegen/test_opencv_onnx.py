"""Every example's ONNX export in OpenCV's ONNX reader (cv2.dnn, 4.x), against the PyTorch export on the same weights.

What OpenCV 4 cannot read or run is pinned, with the operator it stops at, so a change in the
export or in OpenCV shows here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.codegen.export import export_project
from studio.graph.project import load_project
from tests.codegen.cases import EXAMPLES, random_inputs, seeded_model

cv2 = pytest.importorskip("cv2")
onnx = pytest.importorskip("onnx")

TOLERANCE = 1e-4  # largest difference relative to the largest PyTorch output
BATCH = 2
OPENCV_CANNOT = {
    "bert_mini_blocks": "[Add]",  # the position table added to a batch of token embeddings
    "gpt_tiny": "[MatMul]",  # attention's batched product of two computed tensors
    "transformer_classifier": "[MatMul]",
    "lstm_classifier": "[LSTM]",
    "vit_tiny": "Inconsistent shape for ConcatLayer",  # the class token is not expanded to a batch above 1
}
"""Examples OpenCV 4.13 cannot run at batch 2, and what it reports: the ONNX operator it fails on, or its error."""


def run_opencv_onnx(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The ONNX file's outputs on `inputs` (one per graph input, in order), run by OpenCV's dnn."""
    model = onnx.load(str(path), load_external_data=False)
    net = cv2.dnn.readNetFromONNX(str(path))
    for graph_input, batch in zip(model.graph.input, inputs):
        net.setInput(np.ascontiguousarray(batch), graph_input.name)
    return [np.array(value) for value in net.forward([output.name for output in model.graph.output])]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_runs_in_opencv_as_in_pytorch_or_is_a_pinned_gap(path: Path, tmp_path: Path, capfd) -> None:
    project = load_project(path)
    (exported,) = export_project(project, "onnx", tmp_path / "model.onnx").files
    xs = random_inputs(project.graph, BATCH)
    gap = OPENCV_CANNOT.get(path.stem)
    if gap is not None:
        with pytest.raises(cv2.error) as err:
            run_opencv_onnx(exported, [x.numpy() for x in xs])
        told = str(err.value) + capfd.readouterr().err  # OpenCV logs the failing node, then raises
        assert gap in told, told[-2000:]
        return
    got = run_opencv_onnx(exported, [x.numpy() for x in xs])
    with torch.no_grad():
        expected = seeded_model(project)(*xs)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    assert len(got) == len(expected)
    for value, reference in zip(got, expected):
        reference = reference.numpy()
        assert value.shape == reference.shape
        assert np.abs(value - reference).max() / max(np.abs(reference).max(), 1e-12) < TOLERANCE


def test_the_pinned_gaps_name_examples_that_exist() -> None:
    assert set(OPENCV_CANNOT) <= {p.stem for p in EXAMPLES}
    assert all(re.fullmatch(r"\[\w+\]|[\w ]+", gap) for gap in OPENCV_CANNOT.values())
