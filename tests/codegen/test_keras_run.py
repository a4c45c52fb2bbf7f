"""Running a Keras export on a chosen backend: in this process, or in a child that survives a job that kills it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.codegen.keras_backend import KerasBackendError, load_keras
from studio.codegen.keras_run import KerasRunner, run_keras

keras = load_keras()

SOURCE = '''
import keras
from keras import layers


def build_model(weights=None):
    x = keras.Input(shape=(3,), name="x")
    y = layers.Dense(2, name="fc")(x)
    model = keras.Model(x, y)
    if weights is not None:
        model.load_weights(weights)
    return model
'''
KILLER = "import os\nimport signal\n\n\ndef build_model(weights=None):\n    os.kill(os.getpid(), signal.SIGSEGV)\n"


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A one-Dense-layer export with known weights, and an input."""
    source = tmp_path / "model_keras.py"
    source.write_text(SOURCE, encoding="utf-8")
    namespace: dict = {}
    exec(compile(SOURCE, str(source), "exec"), namespace)  # noqa: S102 - the test's own source
    model = namespace["build_model"]()
    model.get_layer("fc").set_weights([np.arange(6, dtype="float32").reshape(3, 2), np.array([1.0, -1.0], dtype="float32")])
    weights = tmp_path / "model_keras.weights.h5"
    model.save_weights(str(weights))
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, in0=np.array([[1.0, 2.0, 3.0]], dtype="float32"))
    return source, weights, inputs


EXPECTED = np.array([[1 * 0 + 2 * 2 + 3 * 4 + 1.0, 1 * 1 + 2 * 3 + 3 * 5 - 1.0]], dtype="float32")


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_run_keras_runs_an_export_here_and_refuses_another_backend(tmp_path: Path) -> None:
    source, weights, inputs = _files(tmp_path)
    with np.load(inputs) as stored:
        x = stored["in0"]
    here = keras.backend.backend()
    np.testing.assert_allclose(run_keras(source, weights, [x], here)[0], EXPECTED)
    other = "jax" if here != "jax" else "torch"
    with pytest.raises(KerasBackendError, match=f"runs Keras on {here!r}; run {other!r} in a child"):
        run_keras(source, weights, [x], other)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_job_that_kills_the_child_is_reported_and_the_next_ones_still_run(tmp_path: Path) -> None:
    source, weights, inputs = _files(tmp_path)
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER, encoding="utf-8")
    good = {"source": str(source), "weights": str(weights), "inputs": [str(inputs)]}
    with KerasRunner("numpy", tmp_path) as runner:  # Keras's numpy backend: the quickest child to start
        runner.submit({"name": "first", **good})
        runner.submit({"name": "killer", "source": str(killer), "weights": None, "inputs": [str(inputs)]})
        runner.submit({"name": "broken", **good, "source": str(tmp_path / "missing.py")})
        runner.submit({"name": "after", **good, "compiled": True})
        results = runner.finish()
    assert "SIGSEGV" in results["killer"]["error"] and "died" in results["killer"]["error"]
    assert "missing.py" in results["broken"]["error"]
    for name in ("first", "after"):
        with np.load(results[name]["outputs"][0]) as stored:
            np.testing.assert_allclose(stored["out0"], EXPECTED)
    assert runner.starts == 2


def test_a_backend_that_cannot_load_fails_the_runner_in_one_message(tmp_path: Path) -> None:
    with KerasRunner("no_such_backend", tmp_path) as runner:
        runner.submit({"name": "any", "source": "x.py", "weights": None, "inputs": []})
        with pytest.raises(KerasBackendError, match="no_such_backend"):
            runner.finish()
