"""The ONNX test suite's node cases for every operator the importer claims: imported and re-exported, they compute the suite's outputs.

Each case of `onnx.backend.test` is one operator with its inputs and expected outputs. The suite
feeds weights, axes and scales as graph inputs; a model stores them as initializers, so every
input after the first is frozen into one holding the suite's value. Cases the importer refuses
(a rank-1 tensor has no room for the batch, an operator form the catalogue lacks) are counted;
every case it imports must give the suite's outputs through the generated PyTorch code, and
through the project's ONNX export in ONNX Runtime.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from studio.codegen.export import build_torch_model
from studio.codegen.onnx_export import onnx_bytes
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.weights import by_attribute
from studio.interop.common import ModelImportError
from studio.interop.onnx_import import import_onnx, supported_operators

# Cases whose import computes something else, each with the reason (the test fails once one is fixed).
KNOWN_WRONG = {
    # ONNX's reference spaces align_corners by the unrounded size (input times scale), as ONNX
    # Runtime and PyTorch do not (they use the whole output size); Layer Studio follows the runtime.
    "test_resize_downsample_scales_cubic_align_corners": "align_corners with a scale whose size is not whole",
    "test_resize_downsample_scales_linear_align_corners": "align_corners with a scale whose size is not whole",
}
MIN_IMPORTED = 229  # of the claimed operators' 584 cases, as many as import today


def node_cases() -> list:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the suite's own generators overflow casts on purpose
        cases = collect_testcases(None)
    claimed = set(supported_operators())
    return [
        c for c in cases
        if c.model is not None and len(c.model.graph.node) == 1 and c.model.graph.node[0].op_type in claimed
        and c.data_sets and c.data_sets[0][0] and isinstance(c.data_sets[0][0][0], np.ndarray)
        and c.data_sets[0][0][0].dtype.kind in "fiub"
    ]  # fmt: skip


def frozen(case: object) -> onnx.ModelProto:
    """The case's model with every input after the first an initializer holding the suite's value."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)  # type: ignore[attr-defined]
    inputs = case.data_sets[0][0]  # type: ignore[attr-defined]
    for value_info, value in zip(list(model.graph.input)[1:], inputs[1:]):
        if isinstance(value, np.ndarray):
            model.graph.initializer.append(numpy_helper.from_array(value, value_info.name))
    del model.graph.input[1:]
    return model


def outputs_match(case: object, imported: object) -> bool:
    """The generated PyTorch model with the imported weights, and its ONNX re-export in ONNX Runtime, give the suite's outputs."""
    import onnxruntime as ort

    project = imported.project  # type: ignore[attr-defined]
    model = build_torch_model(generate_pytorch(project), 0)
    state = by_attribute(imported.state, project)  # type: ignore[attr-defined]
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    first = np.asarray(case.data_sets[0][0][0])  # type: ignore[attr-defined]
    x = first.astype(np.float32) if first.dtype.kind == "f" else first
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    got = [t.numpy() for t in (got if isinstance(got, (tuple, list)) else [got])]
    session = ort.InferenceSession(onnx_bytes(project, model), providers=["CPUExecutionProvider"])
    again = session.run(None, {session.get_inputs()[0].name: x})
    expected = case.data_sets[0][1]  # type: ignore[attr-defined]
    half = first.dtype == np.float16 or any(np.asarray(e).dtype == np.float16 for e in expected)
    rtol, atol = (2e-3, 2e-4) if half else (1e-4, 1e-4)  # some expected outputs are written to four decimals
    return all(
        np.allclose(np.asarray(g, dtype=np.float64), np.asarray(e, dtype=np.float64), rtol=rtol, atol=atol, equal_nan=True)
        for outputs in (got, again)
        for g, e in zip(outputs, expected)
    )


def test_every_imported_node_case_gives_the_suites_outputs(tmp_path: Path) -> None:
    imported, wrong = 0, []
    for case in node_cases():
        path = tmp_path / f"{case.name}.onnx"
        onnx.save(frozen(case), path)
        try:
            result = import_onnx(path)
        except ModelImportError:
            continue
        imported += 1
        if not outputs_match(case, result):
            wrong.append(case.name)
    assert sorted(wrong) == sorted(KNOWN_WRONG), "cases whose import computes something else"
    assert imported >= MIN_IMPORTED, f"only {imported} node cases import"
