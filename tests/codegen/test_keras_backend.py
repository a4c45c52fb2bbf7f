"""Keras export on a fresh install: torch unless the user chose a backend, one line when it cannot load.

The CLI runs in a subprocess with no KERAS_BACKEND and HOME/KERAS_HOME in an empty folder, because
Keras reads its backend once per process, at its first import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio.codegen.keras_backend import chosen_backend, load_keras
from tests.codegen.helpers import load_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "examples" / "digits_cnn.lstudio"
MISSING_BACKENDS = [b for b in ("jax", "tensorflow") if importlib.util.find_spec(b) is None]


def fresh_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who never configured Keras, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    env.update(HOME=str(home), KERAS_HOME=str(home / ".keras"), **extra)
    return env


def export_keras(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "studio", "export", str(EXAMPLE), "--to", "keras", "-o", str(tmp_path / "m_keras.py")]
    return subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_a_fresh_install_exports_keras_on_torch(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for attempt in ("first", "second"):  # Keras writes a keras.json naming tensorflow on its first import
        result = export_keras(tmp_path, fresh_env(home))
        assert result.returncode == 0, (attempt, result.stderr)
        assert "Traceback" not in result.stderr
    assert json.loads((home / ".keras" / "keras.json").read_text())["backend"] == "tensorflow"
    with pytest.MonkeyPatch.context() as patch:  # the file Keras wrote is no choice, though tensorflow may be installed
        patch.delenv("KERAS_BACKEND", raising=False)
        patch.setenv("KERAS_HOME", str(home / ".keras"))
        assert chosen_backend() is None
    load_keras()
    model = load_module(tmp_path / "m_keras.py").build_model(str(tmp_path / "m_keras.weights.h5"))
    x = torch.rand(2, 1, 8, 8).numpy()
    assert tuple(model(x, training=False).shape) == (2, 10)


UNLOADABLE = [
    (where, backend)
    for where in ("KERAS_BACKEND", "keras.json")
    for backend in (*MISSING_BACKENDS, "no_such_backend")
    if (where, backend) != ("keras.json", "tensorflow")  # the file Keras writes itself: no choice
]


@pytest.mark.parametrize(("where", "backend"), UNLOADABLE)
def test_a_backend_that_cannot_load_is_one_line_with_exit_2(tmp_path: Path, where: str, backend: str) -> None:
    home = tmp_path / "home"
    (home / ".keras").mkdir(parents=True)
    if where == "keras.json":
        (home / ".keras" / "keras.json").write_text(json.dumps({"backend": backend}))
        env = fresh_env(home)
    else:
        env = fresh_env(home, KERAS_BACKEND=backend)
    result = export_keras(tmp_path, env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert backend in lines[0] and where in lines[0], lines[0]
    assert "KERAS_BACKEND=torch" in lines[0] or "not one of torch" in lines[0], lines[0]
    assert not (tmp_path / "m_keras.py").exists()


def test_the_choice_comes_from_the_environment_then_keras_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert chosen_backend() is None
    config = tmp_path / "keras.json"
    config.write_text(json.dumps({"backend": "jax"}))
    assert chosen_backend() == ("jax", str(config))
    config.write_text("{not json")
    assert chosen_backend() is None
    config.write_text(json.dumps({"backend": "tensorflow"}))
    expected = ("tensorflow", str(config)) if importlib.util.find_spec("tensorflow") else None
    assert chosen_backend() == expected
    written = {"floatx": "float32", "epsilon": 1e-07, "backend": "tensorflow", "image_data_format": "channels_last"}
    config.write_text(json.dumps(written, indent=4))  # what Keras writes on its first import: Keras's, not the user's
    assert chosen_backend() is None
    config.write_text(json.dumps({**written, "floatx": "float16"}))  # the user edited it: their choice
    assert chosen_backend() == expected
    config.write_text(json.dumps({**written, "backend": "jax"}))
    assert chosen_backend() == ("jax", str(config))
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    assert chosen_backend() == ("numpy", "KERAS_BACKEND")
