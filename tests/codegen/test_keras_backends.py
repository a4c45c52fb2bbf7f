"""Every example and every one-layer Keras case, on every Keras backend, against the PyTorch export on the same weights.

Keras picks its backend once per process: the backend this process has (torch, as the exporter
picks) runs here, each other installed backend in one child (`studio.codegen.keras_run`, with
KERAS_BACKEND set in the child's environment only) that takes the cases as they are exported and
runs them while this process exports the next. Each output must lie within 1e-4 of PyTorch's,
relative to its largest value. torch and TensorFlow run eagerly (`model(x)`), on a batch of two
and on one sample (TensorFlow runs the examples through `predict` too); JAX through `predict`, compiled with XLA's quick settings
(`keras_matrix.child_env`), as it would otherwise compile every operation for every shape.

What runs where, and why: a backend computes an operation its own way, so every one-layer case
runs on every backend. An example proves the composition (wiring, shapes, the weights file of a
whole network), which is the same Keras code on every backend: each small example
(`big_examples.SMALL`) runs on this process's backend and on one child backend, the children
taking them in turn (TensorFlow's also through predict), and each big one (ResNet-18 and BERT mini
of blocks, millions of parameters) on one child backend only. That halves the examples' share,
which was a third of JAX's time and half of this process's. `benchmarks/keras_matrix.py` runs
every case on every backend and says where the time goes; run it after upgrading Keras,
TensorFlow or JAX.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from studio.codegen.keras_backend import load_keras
from studio.codegen.keras_run import KerasRunner, call_model, load_model
from tests.codegen.big_examples import BIG, SMALL
from tests.codegen.keras_matrix import (
    BACKENDS,
    LIMIT,
    all_cases,
    case_project,
    child_env,
    installed,
    prepare,
    read_outputs,
    relative_difference,
)

keras = load_keras()
HERE = keras.backend.backend()  # the backend this process runs; the others run in children
CHILDREN = [b for b in BACKENDS if b != HERE and installed(b)]

PREDICT = "tensorflow predict"  # the examples once more on TensorFlow, through predict (a tf.function graph)
GRAPH = " (predict)"

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CASES = all_cases()
# Per example, the backends it runs on: one child each, in turn; a small one on this process's backend too.
_TURNS = [*BIG, *SMALL]
EXAMPLE_BACKENDS = {
    f"example-{path.stem}": {(CHILDREN or [HERE])[i % max(len(CHILDREN), 1)], *([HERE] if path in SMALL else [])} for i, path in enumerate(_TURNS)
}


def runs_on(name: str, backend: str) -> bool:
    """Whether the matrix runs case `name` on `backend` (see the module's docstring)."""
    return backend in EXAMPLE_BACKENDS.get(name, BACKENDS)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Per backend, per case: a list of relative differences (the batch, then one sample), or the error text."""
    folder = tmp_path_factory.mktemp("keras_backends")
    found: dict[str, dict[str, Any]] = {b: {} for b in (HERE, *CHILDREN)}
    runners = {b: KerasRunner(b, folder, child_env(b)) for b in CHILDREN}
    try:
        prepared = {}
        for name, spec in CASES.items():
            case = prepared[name] = prepare(name, case_project(spec), folder)
            if case.error:
                continue
            for backend, runner in runners.items():
                if runs_on(name, backend):
                    runner.submit(case.job(backend))
            if name.startswith("example-") and "tensorflow" in runners and runs_on(name, "tensorflow"):  # also in graph mode, as tf.function runs it
                runners["tensorflow"].submit({**case.job("tensorflow"), "name": f"{name}{GRAPH}", "inputs": case.inputs[:1], "compiled": True})
            if not runs_on(name, HERE):
                continue
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
            found[backend].update({name: case.error for name, case in prepared.items() if case.error and runs_on(name, backend)})
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


@pytest.mark.parametrize(("name", "backend"), [(n, b) for n in CASES for b in BACKENDS if runs_on(n, b)])
def test_keras_matches_pytorch(matrix: dict[str, dict[str, Any]], name: str, backend: str) -> None:
    if backend not in matrix:
        pytest.skip(f"{backend} is not installed (pip install '.[deploy]')")
    result = matrix[backend][name]
    assert not isinstance(result, str), result
    runs = ("a batch of two", "one sample")
    for run, difference in zip(runs, result):
        assert not isinstance(difference, str), f"{run}: {difference}"
        assert difference <= LIMIT, f"{run}: Keras on {backend} differs from PyTorch by {difference:.2e} relative"


@pytest.mark.parametrize("name", [name for name in CASES if name.startswith("example-") and runs_on(name, "tensorflow")])
def test_examples_match_pytorch_through_predict_on_tensorflow(matrix: dict[str, dict[str, Any]], name: str) -> None:
    if PREDICT not in matrix:
        pytest.skip("tensorflow is not installed (pip install '.[deploy]')")
    result = matrix[PREDICT][name]
    assert not isinstance(result, str), result
    assert not isinstance(result[0], str), result[0]
    assert result[0] <= LIMIT, f"Keras on tensorflow through predict differs from PyTorch by {result[0]:.2e} relative"


def test_every_backend_ran_every_case(matrix: dict[str, dict[str, Any]]) -> None:
    """The worst difference per backend (printed with -s), over every case it runs: none left out, every example on one child backend."""
    for backend, results in matrix.items():
        runs = {n for n in CASES if runs_on(n, "tensorflow") and n.startswith("example-")} if backend == PREDICT else {n for n in CASES if runs_on(n, backend)}
        assert set(results) == runs, backend
        numbers = [d for r in results.values() if not isinstance(r, str) for d in r if not isinstance(d, str)]
        worst = max(numbers, default=float("nan"))
        print(f"Keras on {backend}: {len(results)} cases, largest relative difference from PyTorch {worst:.1e}")
    if len(CHILDREN) == 2:
        assert all(sum(runs_on(name, b) for b in CHILDREN) == 1 for name in EXAMPLE_BACKENDS)
