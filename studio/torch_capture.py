"""The child process that runs a user's PyTorch code and writes its module as an ONNX file.

`python -m studio.torch_capture FILE.py NAME OUT.onnx --input 3x32x32 [--input 16:int64] [--weights W.pt]`
(or `PROGRAM.pt2 - OUT.onnx` for a program saved with `torch.export.save`) runs FILE.py (that is the user's code running: the parent says so before it starts this), builds
NAME (an `nn.Module` subclass built with no arguments, or a function returning a module), loads
the weights (a state dict, read with `weights_only=True`), and exports it with torch.onnx's dynamo
exporter (a `torch.export` capture, the batch dynamic) with every module's scope in the node
metadata, which the ONNX importer turns into blocks. Only the ONNX file comes back to the
parent: no pickle crosses. A user's mistake exits 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import sys
from pathlib import Path
from typing import Any

DTYPES = {"float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"}
_SHAPE = re.compile(r"^\d+(x\d+)*$")
BATCH = 2


class CaptureError(Exception):
    """The code, the module or an input cannot be captured; the message says why."""


def parse_input(text: str) -> tuple[tuple[int, ...], str]:
    """`3x224x224` or `16:int64`: a per-sample shape and a dtype (float32 by default)."""
    shape_text, _, dtype = text.partition(":")
    dtype = dtype or "float32"
    if not _SHAPE.match(shape_text) or dtype not in DTYPES:
        raise CaptureError(f"--input {text!r}: give a per-sample shape such as 3x224x224 or 16:int64 (dtypes: {', '.join(sorted(DTYPES))})")
    return tuple(int(d) for d in shape_text.split("x")), dtype


def build_module(path: Path, name: str) -> Any:
    """Run `path` and build its `name`: a module class made with no arguments, or a function that returns a module."""
    import torch

    if not path.is_file():
        raise CaptureError(f"{path}: no such file")
    namespace = runpy.run_path(str(path), run_name="__layer_studio_capture__")
    found = namespace.get(name)
    if found is None:
        modules = sorted(k for k, v in namespace.items() if isinstance(v, type) and issubclass(v, torch.nn.Module) and v.__module__ == "__layer_studio_capture__")
        raise CaptureError(f"{path}: defines no {name!r} (modules it defines: {', '.join(modules) or 'none'})")
    try:
        module = found()
    except TypeError as err:
        raise CaptureError(f"{path}: {name}() cannot be built without arguments ({err}); give a function that builds it") from err
    if not isinstance(module, torch.nn.Module):
        raise CaptureError(f"{path}: {name}() gave a {type(module).__name__}, not a torch.nn.Module")
    return module.eval()


def example_inputs(specs: list[tuple[tuple[int, ...], str]]) -> tuple[Any, ...]:
    """A batch of random inputs of these shapes and dtypes (token ids below 2, so any embedding takes them)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    made = []
    for shape, dtype in specs:
        kind = getattr(torch, dtype)
        if kind.is_floating_point:
            made.append(torch.randn((BATCH, *shape), generator=generator).to(kind))
        else:
            made.append(torch.randint(0, 2, (BATCH, *shape), generator=generator).to(kind))
    return tuple(made)


def capture(path: Path, name: str, out: Path, specs: list[tuple[tuple[int, ...], str]], weights: Path | None = None) -> None:
    """Build the module, load its weights and write it to `out` as ONNX (opset 18, batch dynamic)."""
    import torch

    module = build_module(path, name)
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = state.get("model", state) if isinstance(state, dict) else state
        try:
            module.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            raise CaptureError(f"{weights}: does not fit {name}: {err}") from err
    inputs = example_inputs(specs)
    batch = torch.export.Dim("batch", min=1)
    with contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(module, inputs, dynamo=True, opset_version=18, dynamic_shapes=tuple({0: batch} for _ in inputs), external_data=False, optimize=False)
    program.save(str(out))


def capture_program(path: Path, out: Path) -> None:
    """A program saved with `torch.export.save`, read with `torch.export.load`, written to `out` as ONNX (opset 18)."""
    import torch

    if not path.is_file():
        raise CaptureError(f"{path}: no such file")
    try:
        program = torch.export.load(str(path))
    except Exception as err:
        raise CaptureError(f"{path}: not a program saved with torch.export.save ({type(err).__name__})") from err
    with contextlib.redirect_stdout(io.StringIO()):
        onnx_program = torch.onnx.export(program, dynamo=True, opset_version=18, external_data=False, optimize=False)
    onnx_program.save(str(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.torch_capture")
    parser.add_argument("file", type=Path)
    parser.add_argument("name")
    parser.add_argument("out", type=Path)
    parser.add_argument("--input", action="append", default=[])
    parser.add_argument("--weights", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.file.suffix.lower() == ".pt2":
            capture_program(args.file, args.out)
            return 0
        specs = [parse_input(text) for text in args.input]
        if not specs:
            raise CaptureError("give each input's per-sample shape with --input (3x224x224, 16:int64)")
        capture(args.file, args.name, args.out, specs, args.weights)
    except CaptureError as err:
        print(err, file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the user's code or torch.export refused it: one line, the parent reports it
        print(f"capturing {args.name} failed: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
