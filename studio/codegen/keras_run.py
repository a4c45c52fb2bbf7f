"""Run exported Keras files on a chosen backend: in this process (`run_keras`) or in a child (`run_on_backend`).

Keras reads its backend once per process, at its first import, so a run on another backend than
the one this process has needs a child: `python -m studio.codegen.keras_run BACKEND FOLDER`, with
`KERAS_BACKEND` set in the child's environment only (`KerasRunner`). It reads jobs as JSON lines
on stdin and answers each with a JSON line: the `.npz` files of outputs it wrote into FOLDER, or
the error that stopped the job, so one broken export never hides the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any, Self

from studio.codegen.keras_backend import BACKEND_PACKAGES, KerasBackendError

RUN_TIMEOUT = 600  # seconds a child may take for all its jobs


def run_keras(source_path: str | Path, weights_path: str | Path | None, inputs: list[Any], backend: str) -> list[Any]:
    """Build the model of an exported Keras file on `backend`, load its weights and run `inputs` (numpy arrays,
    one per model input) in inference mode; returns the outputs as numpy arrays, in the model's order.

    Raises:
        KerasBackendError: this process already runs Keras on another backend, or `backend` cannot load.
    """
    return call_model(load_model(source_path, weights_path, backend), inputs)


def load_model(source_path: str | Path, weights_path: str | Path | None, backend: str) -> Any:
    """The `keras.Model` an exported Keras file builds on `backend`, with its weights loaded (see `run_keras`)."""
    _keras_on(backend)
    spec = importlib.util.spec_from_file_location(f"keras_export_{abs(hash(str(source_path)))}", source_path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{source_path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings():  # Keras 3.15 variables predate numpy 2's __array__(copy=...)
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        return module.build_model(None if weights_path is None else str(weights_path))


def call_model(model: Any, inputs: list[Any], compiled: bool = False) -> list[Any]:
    """A Keras model's outputs on `inputs` in inference mode, as numpy arrays: an eager call, as a user's
    `model(x)`, or `compiled`, `model.predict` (one compiled function: on JAX far quicker than compiling
    each operation for each new shape)."""
    import keras

    x = inputs[0] if len(inputs) == 1 else list(inputs)
    if compiled:
        got = model.predict(x, batch_size=len(inputs[0]), verbose=0)
    else:
        got = model(x, training=False)
    outputs = list(got) if isinstance(got, (list, tuple)) else [got]
    return [keras.ops.convert_to_numpy(o) for o in outputs]


def _keras_on(backend: str) -> Any:
    """Keras, which must run (or be about to load) on `backend` in this process."""
    if backend not in BACKEND_PACKAGES:
        raise KerasBackendError(f"Keras backend {backend!r} is not one of {', '.join(BACKEND_PACKAGES)}")
    if "keras" in sys.modules:
        running = sys.modules["keras"].backend.backend()
        if running != backend:
            raise KerasBackendError(f"this process runs Keras on {running!r}; run {backend!r} in a child (run_on_backend)")
    else:
        os.environ["KERAS_BACKEND"] = backend
    try:
        import keras
    except (ImportError, ValueError) as err:
        raise KerasBackendError(f"Keras cannot load on the {backend!r} backend: {err}") from err
    return keras


def run_on_backend(jobs: list[dict[str, Any]], backend: str, folder: str | Path) -> dict[str, dict[str, Any]]:
    """Run each job on `backend` in a child process (see `KerasRunner`); returns per job name its result."""
    with KerasRunner(backend, folder) as runner:
        for job in jobs:
            runner.submit(job)
        return runner.finish()


class KerasRunner:
    """A child process that runs Keras on one backend; jobs are submitted as they are ready and run in order.

    A job is {"name", "source" (the exported .py), "weights" (its .weights.h5, or None), "inputs": a list
    of .npz files of `in0`, `in1`, ... (one model input each), "compiled": whether to run `predict`
    rather than an eager call (`call_model`)}; its result is {"outputs": a list of
    .npz files of `out0`, `out1`, ..., one per inputs file} or {"error": text}. The child's
    environment differs from this one in KERAS_BACKEND only, and in the variables of `env` where
    given. A job that kills the child (a crash inside a backend) is reported as such, and a new
    child runs the jobs after it.
    """

    def __init__(self, backend: str, folder: str | Path, env: dict[str, str] | None = None) -> None:
        self.backend, self.folder = backend, Path(folder)
        self.env = {**os.environ, **(env or {}), "KERAS_BACKEND": backend}
        self.pending: dict[str, dict[str, Any]] = {}  # by name, in the order submitted
        self.results: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.starts = 0
        self._start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        _close(self.child)

    def submit(self, job: dict[str, Any]) -> None:
        with self.lock:
            self.pending[job["name"]] = job
        self.queue.put(json.dumps(job))

    def finish(self, timeout: float = RUN_TIMEOUT) -> dict[str, dict[str, Any]]:
        """Wait for every submitted job; raises KerasBackendError when the child cannot run Keras at all."""
        while True:
            self.queue.put(None)
            try:
                self.child.wait(timeout)
            except subprocess.TimeoutExpired:
                self.child.kill()
                raise KerasBackendError(f"Keras on {self.backend!r} did not finish within {timeout:.0f} s") from None
            self.reader.join()
            _close(self.child)
            status = self.child.returncode
            with self.lock:
                left = list(self.pending.values())
            if not left:
                return self.results
            if status > 0 and not self.results:  # Keras or the backend does not load: no job can run
                raise KerasBackendError(f"Keras on {self.backend!r} failed (exit status {status}): {self._log_tail()}")
            how = f"signal {_signal_name(-status)}" if status < 0 else f"exit status {status}"
            with self.lock:
                self.results[left[0]["name"]] = {"error": f"the Keras process on {self.backend!r} died running it ({how})"}
                self.pending.clear()
            self._start()
            for job in left[1:]:
                self.submit(job)

    def _start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "studio.codegen.keras_run", self.backend, str(self.folder)]
        self.log = self.folder / f"keras_{self.backend}_{self.starts}.log"
        with open(self.log, "w", encoding="utf-8") as errors:  # the backends' own chatter, read on failure
            self.child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True, env=self.env)
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(self.child,), daemon=True)
        self.reader.start()
        threading.Thread(target=self._write, args=(self.child, self.queue), daemon=True).start()

    def _write(self, child: subprocess.Popen[str], jobs: queue.Queue[str | None]) -> None:
        assert child.stdin is not None
        while (line := jobs.get()) is not None:
            try:
                child.stdin.write(line + "\n")
                child.stdin.flush()
            except OSError:  # the child died; finish() restarts it with what is left
                return
        with contextlib.suppress(OSError):
            child.stdin.close()

    def _read(self, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("{"):
                result = json.loads(line)
                with self.lock:
                    self.pending.pop(result["name"], None)
                    self.results[result.pop("name")] = result

    def _log_tail(self) -> str:
        return " / ".join(self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _close(child: subprocess.Popen[str]) -> None:
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _main(backend: str, folder: str) -> int:
    """The child: runs each job read from stdin (one JSON line each) on `backend`, one JSON line of result per job."""
    import numpy as np

    _keras_on(backend)  # a backend that cannot load stops the child before any job
    for line in sys.stdin:
        job = json.loads(line)
        result: dict[str, Any] = {"name": job["name"]}
        try:
            outputs, model = [], load_model(job["source"], job.get("weights"), backend)
            key = hashlib.sha1(job["name"].encode()).hexdigest()[:12]  # jobs may share inputs files, never outputs
            for index, inputs_file in enumerate(job["inputs"]):
                with np.load(inputs_file) as stored:
                    inputs = [stored[f"in{i}"] for i in range(len(stored.files))]
                got = call_model(model, inputs, bool(job.get("compiled")))
                target = Path(folder) / f"outputs_{backend}_{key}_{index}.npz"
                np.savez(target, **{f"out{i}": o for i, o in enumerate(got)})
                outputs.append(str(target))
            result["outputs"] = outputs
        except Exception as err:  # noqa: BLE001 - reported per job, the others still run
            last = traceback.extract_tb(err.__traceback__)[-1]
            result["error"] = f"{type(err).__name__}: {err} (at {Path(last.filename).name}:{last.lineno})"
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1], sys.argv[2]))
