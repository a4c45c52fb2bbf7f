"""Every example and every one-layer Keras case, on every Keras backend, against the PyTorch export on the same weights.

Keras picks its backend once per process: the backend this process has (torch, as the exporter
picks) runs here, each other installed backend in one child (`studio.codegen.keras_run`, with
KERAS_BACKEND set in the child's environment only) that takes the cases as they are exported and
runs them while this process exports the next. Each output must lie within 1e-4 of PyTorch's,
relative to its largest value. torch and TensorFlow run eagerly (`model(x)`), on a batch of two
and on one sample (TensorFlow runs the examples through `predict` too); JAX through `predict`, compiled with XLA's quick settings
(`keras_matrix.child_env`), as it would otherwise compile every operation for every shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio.codegen.keras_backend import load_keras
from studio.codegen.keras_run import KerasRunner, call_model, load_model
from studio.graph.project import load_project
from tests.codegen.cases import EXAMPLES, single_layer
from tests.codegen.keras_cases import layer_cases
from tests.codegen.keras_matrix import (
    BACKENDS,
    LIMIT,
    child_env,
    installed,
    prepare,
    read_outputs,
    relative_difference,
    shared_channel_operand,
)

keras = load_keras()
HERE = keras.backend.backend()  # the backend this process runs; the others run in children
CHILDREN = [b for b in BACKENDS if b != HERE and installed(b)]

PREDICT = "tensorflow predict"  # the examples once more on TensorFlow, through predict (a tf.function graph)
GRAPH = " (predict)"

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
    pytest.mark.xdist_group("keras_backends"),  # under xdist, one worker runs the module: the matrix is built once
]

CASES: dict[str, Any] = {f"example-{p.stem}": p for p in EXAMPLES}
CASES["shared-channel-operand"] = shared_channel_operand
CASES.update({name: (layer_type, params, shapes) for name, layer_type, params, shapes in layer_cases()})


def _project(spec: Any) -> Any:
    if isinstance(spec, Path):
        return load_project(spec)
    return spec() if callable(spec) else single_layer(*spec)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Per backend, per case: a list of relative differences (the batch, then one sample), or the error text."""
    folder = tmp_path_factory.mktemp("keras_backends")
    found: dict[str, dict[str, Any]] = {b: {} for b in (HERE, *CHILDREN)}
    runners = {b: KerasRunner(b, folder, child_env(b)) for b in CHILDREN}
    try:
        prepared = {}
        for name, spec in CASES.items():
            case = prepared[name] = prepare(name, _project(spec), folder)
            if case.error:
                continue
            for backend, runner in runners.items():
                runner.submit(case.job(backend))
            if name.startswith("example-") and "tensorflow" in runners:  # also in graph mode, as tf.function runs it
                runners["tensorflow"].submit({**case.job("tensorflow"), "name": f"{name}{GRAPH}", "inputs": case.inputs[:1], "compiled": True})
            try:
                model = load_model(case.source, case.weights, HERE)
                found[HERE][name] = [_compare(call_model(model, _inputs(path)), case.expected, i) for i, path in enumerate(case.job(HERE)["inputs"])]
            except Exception as err:  # noqa: BLE001 - the case's test reports it
                found[HERE][name] = f"{type(err).__name__}: {err}"
        for backend, runner in runners.items():
            for name, result in runner.finish().items():
                key, name = (PREDICT, name.removesuffix(GRAPH)) if name.endswith(GRAPH) else (backend, name)
                if "error" in result:
                    found.setdefault(key, {})[name] = result["error"]
                    continue
                outputs = [read_outputs(path) for path in result["outputs"]]
                found.setdefault(key, {})[name] = [_compare(got, prepared[name].expected, i) for i, got in enumerate(outputs)]
        for backend in (HERE, *CHILDREN):
            found[backend].update({name: case.error for name, case in prepared.items() if case.error})
        yield found
    finally:
        for runner in runners.values():
            runner.__exit__()


def _inputs(path: str) -> list[Any]:
    import numpy as np

    with np.load(path) as stored:
        return [stored[f"in{i}"] for i in range(len(stored.files))]


def _compare(got: list[Any], expected: list[Any], run: int) -> float | str:
    rows = [e[:1] for e in expected] if run == 1 else expected
    try:
        return relative_difference(got, rows)
    except AssertionError as err:
        return str(err)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(CASES))
def test_keras_matches_pytorch(matrix: dict[str, dict[str, Any]], name: str, backend: str) -> None:
    if backend not in matrix:
        pytest.skip(f"{backend} is not installed (pip install '.[deploy]')")
    result = matrix[backend][name]
    assert not isinstance(result, str), result
    runs = ("a batch of two", "one sample")
    for run, difference in zip(runs, result):
        assert not isinstance(difference, str), f"{run}: {difference}"
        assert difference <= LIMIT, f"{run}: Keras on {backend} differs from PyTorch by {difference:.2e} relative"


@pytest.mark.parametrize("name", [name for name in CASES if name.startswith("example-")])
def test_examples_match_pytorch_through_predict_on_tensorflow(matrix: dict[str, dict[str, Any]], name: str) -> None:
    if PREDICT not in matrix:
        pytest.skip("tensorflow is not installed (pip install '.[deploy]')")
    result = matrix[PREDICT][name]
    assert not isinstance(result, str), result
    assert not isinstance(result[0], str), result[0]
    assert result[0] <= LIMIT, f"Keras on tensorflow through predict differs from PyTorch by {result[0]:.2e} relative"


def test_every_backend_ran_every_case(matrix: dict[str, dict[str, Any]]) -> None:
    """The worst difference per backend (printed with -s), over every case: none left out."""
    for backend, results in matrix.items():
        assert set(results) == ({n for n in CASES if n.startswith("example-")} if backend == PREDICT else set(CASES)), backend
        numbers = [d for r in results.values() if not isinstance(r, str) for d in r if not isinstance(d, str)]
        worst = max(numbers, default=float("nan"))
        print(f"Keras on {backend}: {len(results)} cases, largest relative difference from PyTorch {worst:.1e}")
