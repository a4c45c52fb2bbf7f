"""The child process that runs an exported file in its runtime: `python -m studio.verify.child RUNTIME FILE WEIGHTS IN.npz OUT.npz REPEATS`.

WEIGHTS is the companion weights file or `-`. IN.npz holds the inputs `x0`, `x1`, ...; OUT.npz
gets the outputs `y0`, `y1`, ... and `seconds`, the median time of one run over the batch. Keras
takes its backend from KERAS_BACKEND, which the parent sets in this process's environment only.
A file the runtime cannot load or run exits 2 with one line on stderr.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

from studio.verify.runtimes import RUNTIMES, RuntimeUnavailable, prepare, timed


def main(argv: list[str]) -> int:
    """Run FILE in RUNTIME on the inputs and write the outputs and the time; 2 with a one-line reason when it cannot."""
    runtime, file, weights, inputs_path, out_path, repeats = argv
    path = Path(file)
    with np.load(inputs_path) as data:
        inputs = [data[f"x{i}"] for i in range(len(data.files))]
    label = RUNTIMES[runtime].label
    try:
        run = prepare(runtime, path, None if weights == "-" else Path(weights))
        outputs, seconds = timed(lambda: run(inputs), int(repeats))
    except RuntimeUnavailable as err:
        print(err, file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - whatever the runtime raises is its refusal of this file
        print(f"{label} cannot run {path.name}: {_first_line(err)}", file=sys.stderr)
        return 2
    buffer = io.BytesIO()
    np.savez(buffer, seconds=np.float64(seconds), **{f"y{i}": np.asarray(y) for i, y in enumerate(outputs)})
    Path(out_path).write_bytes(buffer.getvalue())
    return 0


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
