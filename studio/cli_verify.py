"""`layer-studio verify EXPORTED_FILE PROJECT`: run an export in its runtime and compare it with PyTorch."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio.cli_status import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREADABLE,
    add_weights_limit,
    apply_weights_limit,
    read_project,
    seed_number,
)

VERIFY_EPILOG = """\
The file runs in its own runtime (ONNX Runtime for .onnx, LiteRT for .tflite, OpenCV for a Caffe
prototxt with its .caffemodel, Keras on your chosen backend for a Keras .py, PyTorch for a PyTorch
.py), in a separate process, on a batch of the project's data (random input where it has none),
and PyTorch runs the project on the same batch with the numbers the export was made from.

Exit status: 0 the file matches PyTorch within 1e-4 (relative to the largest output); 1 it
differs; 2 the file, its weights or its runtime is missing, or the runtime cannot run the file."""


def add_verify_parser(sub: Any) -> None:
    """The `verify` subcommand."""
    from studio.verify.runtimes import RUNTIMES

    verify = sub.add_parser(
        "verify",
        help="run an exported file in its runtime and compare it with PyTorch",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("exported", help="the exported file (.onnx, .tflite, .prototxt, or a PyTorch or Keras .py)")
    verify.add_argument("file", help="the .lstudio project it was exported from")
    verify.add_argument("--runtime", choices=tuple(RUNTIMES), help="run it in this runtime instead of the file's own (e.g. openvino or opencv for ONNX)")
    verify.add_argument("--backend", choices=("torch", "jax", "tensorflow"), help="Keras's backend (default: your KERAS_BACKEND or keras.json, else torch)")
    verify.add_argument("--weights", help="the state dict the export was made from (default: the project's own weights, else seeded)")
    verify.add_argument("--seed", type=seed_number, default=0, help="the seed the export's weights were made from (default 0)")
    verify.add_argument("--samples", type=int, default=8, help="how many samples to run (default 8)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    add_weights_limit(verify)
    verify.set_defaults(run=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify one export; print the result."""
    from studio.codegen.export import WeightsError
    from studio.codegen.names import CodegenError
    from studio.graph.project import trained_weights
    from studio.verify.check import VerifyError, verify_export

    apply_weights_limit(args)
    if args.samples < 1:
        print(f"layer-studio: --samples {args.samples}: give 1 or more", file=sys.stderr)
        return EXIT_UNREADABLE
    project = read_project(args.file)
    if project is None:
        return EXIT_UNREADABLE
    weights = args.weights or trained_weights(project, args.file)
    try:
        result = verify_export(args.exported, project, args.file, weights, args.seed, args.runtime, args.backend, args.samples)
    except (VerifyError, WeightsError, CodegenError) as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print("\n".join(result.lines()))
    return EXIT_OK if result.ok else EXIT_INVALID
