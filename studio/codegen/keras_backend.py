"""Load Keras on the backend the user chose, or on torch when they chose none.

Keras reads its backend once, at its first import: from `KERAS_BACKEND`, else from `keras.json`
in `KERAS_HOME` (or `~/.keras`), else tensorflow. On its first import Keras also writes a
`keras.json` of its own defaults (naming tensorflow, whatever backend it then loads), so a file
that holds exactly those defaults is Keras's, not the user's: the user chose a backend when they
set `KERAS_BACKEND`, or wrote or edited `keras.json` (another backend, or any other setting).
A file naming tensorflow when tensorflow is not installed is no choice either. With no choice
Keras loads on torch, which every Layer Studio install has; the exported files are the same on
every backend.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

from studio.graph.regular_files import read_regular

DEFAULT_BACKEND = "torch"
BACKEND_PACKAGES = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow", "numpy": "numpy", "openvino": "openvino"}
KERAS_DEFAULT = "tensorflow"  # what Keras falls back to, and writes into a new keras.json
KERAS_WRITES = {"floatx": "float32", "epsilon": 1e-07, "backend": KERAS_DEFAULT, "image_data_format": "channels_last"}
"""The keras.json Keras writes on its first import (keras/src/backend/config.py, Keras 3)."""


class KerasBackendError(Exception):
    """Keras or the backend it is asked to run on cannot load; the message says what to change."""


def keras_config_path() -> Path:
    """Where Keras looks for keras.json (the same rule as keras.src.backend.config)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser() / "keras.json"
    home = Path("~").expanduser()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras" / "keras.json"


def chosen_backend() -> tuple[str, str] | None:
    """The backend the user chose and where they chose it, or None when they chose none."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    path = keras_config_path()
    try:
        config = json.loads(read_regular(path, 2**20).decode("utf-8"))  # a FIFO or /dev/zero here is an OSError, never read
    except (OSError, ValueError):
        return None
    backend = config.get("backend") if isinstance(config, dict) else None
    if not isinstance(backend, str) or not backend:
        return None
    if config == KERAS_WRITES or (backend == KERAS_DEFAULT and not _installed(KERAS_DEFAULT)):
        return None  # Keras wrote this file itself, or it names a backend this install lacks as Keras's default
    return backend, str(path)


def load_keras() -> ModuleType:
    """Import Keras, on torch unless the user chose a backend.

    Raises:
        KerasBackendError: Keras is not installed, or the chosen backend is unknown or cannot load.
    """
    if "keras" not in sys.modules:
        _select_backend()
    try:
        import keras
    except (ImportError, ValueError) as err:  # Keras raises ValueError for a backend it cannot import
        raise KerasBackendError(_import_failure(err)) from err
    return keras


def _select_backend() -> None:
    if not _installed("keras"):
        raise KerasBackendError("Keras export needs the keras package: pip install 'keras>=3.5'")
    choice = chosen_backend()
    if choice is None:
        os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
        return
    backend, where = choice
    if backend not in BACKEND_PACKAGES:
        names = ", ".join(BACKEND_PACKAGES)
        raise KerasBackendError(f"Keras backend {backend!r} (from {where}) is not one of {names}")
    package = BACKEND_PACKAGES[backend]
    if not _installed(package):
        raise KerasBackendError(
            f"Keras backend {backend!r} (from {where}) cannot load: {package} is not installed; "
            f"install it or set KERAS_BACKEND={DEFAULT_BACKEND}"
        )


def _import_failure(err: Exception) -> str:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    backend = os.environ.get("KERAS_BACKEND") or KERAS_DEFAULT
    return f"Keras cannot load on the {backend!r} backend ({first}); set KERAS_BACKEND={DEFAULT_BACKEND}"


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


__all__ = ["KerasBackendError", "chosen_backend", "keras_config_path", "load_keras"]
