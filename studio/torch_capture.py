"""The child process that runs a user's PyTorch code and writes its module as an ONNX file.

`python -m studio.torch_capture FILE.py NAME OUT.onnx --input 3x32x32 [--input 16:int64] [--weights W.pt]`
(or `PROGRAM.pt2 - OUT.onnx` for a program saved with `torch.export.save`) runs FILE.py (that is the user's code running: the parent says so before it starts this), builds
NAME (an `nn.Module` subclass built with no arguments, or a function returning a module), loads
the weights (a state dict, read with `weights_only=True`), runs it once on the inputs (random ones
of the `--input` shapes, or the batch the file's `example_inputs()` returns), and exports it with
torch.onnx's dynamo exporter (a `torch.export` capture, the batch dynamic) with every module's
scope in the node metadata, which the ONNX importer turns into blocks. Only the ONNX file comes
back to the parent: no pickle crosses. A user's mistake exits 2 with one line on stderr.

Where torch.export refuses the code (data-dependent control flow, a batch size fixed in the code),
TorchScript's tracer captures it instead and a `note:` line says so. Decision: the tracer rather
than torch.fx's symbolic tracing, which fails on the same data-dependent branches that stop
torch.export and whose graphs reach ONNX only through one of these two exporters anyway.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

DTYPES = {"float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"}
_SHAPE = re.compile(r"^\d+(x\d+)*$")
BATCH = 2
OPSET = 18
RUN_NAME = "__layer_studio_capture__"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOTE = "note: "  # a stderr line the parent passes on as an import warning


class CaptureError(Exception):
    """The code, the module or an input cannot be captured; the message says why."""


def parse_input(text: str) -> tuple[tuple[int, ...], str]:
    """`3x224x224` or `16:int64`: a per-sample shape and a dtype (float32 by default)."""
    shape_text, _, dtype = text.partition(":")
    dtype = dtype or "float32"
    if not _SHAPE.match(shape_text) or dtype not in DTYPES:
        raise CaptureError(f"--input {text!r}: give a per-sample shape such as 3x224x224 or 16:int64 (dtypes: {', '.join(sorted(DTYPES))})")
    return tuple(int(d) for d in shape_text.split("x")), dtype


def run_file(path: Path) -> dict[str, Any]:
    """Run the user's file and return what it defines."""
    if not path.is_file():
        raise CaptureError(f"{path}: no such file")
    return runpy.run_path(str(path), run_name=RUN_NAME)


def build_module(namespace: dict[str, Any], path: Path, name: str) -> Any:
    """Build `name` from the file's `namespace`: a module class made with no arguments, or a function that returns a module."""
    import torch

    found = namespace.get(name)
    if found is None:
        modules = sorted(k for k, v in namespace.items() if isinstance(v, type) and issubclass(v, torch.nn.Module) and v.__module__ == RUN_NAME)
        raise CaptureError(f"{path}: defines no {name!r} (modules it defines: {', '.join(modules) or 'none'})")
    try:
        module = found()
    except TypeError as err:
        raise CaptureError(f"{path}: {name}() cannot be built without arguments ({err}); give a function that builds it") from err
    if not isinstance(module, torch.nn.Module):
        raise CaptureError(f"{path}: {name}() gave a {type(module).__name__}, not a torch.nn.Module")
    return module.eval()


def random_inputs(specs: list[tuple[tuple[int, ...], str]]) -> tuple[Any, ...]:
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


def file_inputs(namespace: dict[str, Any], path: Path) -> tuple[Any, ...]:
    """The batch the file's own `example_inputs()` returns (one tensor or a tuple of them), grown to two samples where it holds one."""
    import torch

    make = namespace.get("example_inputs")
    if not callable(make):
        raise CaptureError(f"{path}: give each input's per-sample shape with --input (3x224x224, 16:int64), or define example_inputs() in the file")
    made = make()
    made = (made,) if isinstance(made, torch.Tensor) else made
    if not isinstance(made, (tuple, list)) or not made or not all(isinstance(t, torch.Tensor) and t.dim() > 0 for t in made):
        raise CaptureError(f"{path}: example_inputs() must return a batched tensor or a tuple of them (the first dimension is the batch)")
    if len({t.shape[0] for t in made}) > 1:
        raise CaptureError(f"{path}: example_inputs() returned tensors with different batch sizes {[t.shape[0] for t in made]}; give them one batch size")
    if made[0].shape[0] < BATCH:  # torch.export fixes a dimension of size 1, so the batch could not stay dynamic
        made = [t[:1].repeat(BATCH, *[1] * (t.dim() - 1)) for t in made]
    return tuple(made)


def capture(path: Path, name: str, out: Path, specs: list[tuple[tuple[int, ...], str]], weights: Path | None = None) -> None:
    """Build the module, load its weights and write it to `out` as ONNX (opset 18, batch dynamic)."""
    import torch

    namespace = run_file(path)
    module = build_module(namespace, path, name)
    if weights is not None:
        try:  # mapped, not read: a size its pickle declares allocates nothing
            state = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # noqa: BLE001 - the unpickler of a crafted file raises anything (KeyError, IndexError, ...)
            raise CaptureError(f"{weights}: cannot be read as PyTorch weights (torch.save's zip format): {_one_line(err)}") from None
        state = state.get("model", state) if isinstance(state, dict) else state
        try:
            module.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as err:
            raise CaptureError(f"{weights}: does not fit {name}: {err}") from err
    inputs = random_inputs(specs) if specs else file_inputs(namespace, path)
    _check_runs(module, inputs, path, name)
    batch = torch.export.Dim("batch", min=1)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            program = torch.onnx.export(module, inputs, dynamo=True, opset_version=OPSET, dynamic_shapes=tuple({0: batch} for _ in inputs), external_data=False, optimize=False)
    except Exception as err:  # noqa: BLE001 - torch.export refused the code; the trace below says so and goes on
        print(f"{NOTE}torch.export could not capture {name} ({_one_line(_root(err))}); it was traced with TorchScript instead, so its control flow follows the example inputs", file=sys.stderr)
        _traced(module, inputs, out)
        return
    program.save(str(out))


def _check_runs(module: Any, inputs: tuple[Any, ...], path: Path, name: str) -> None:
    """Run the module once, so a mistake in it or in the inputs is told as the user's, with the line of their file that raised it."""
    import torch

    try:
        with torch.no_grad():
            module(*inputs)
    except Exception as err:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve() == path.resolve()]
        where = f" ({path.name} line {frames[-1].lineno}: {(frames[-1].line or '').strip()})" if frames else ""
        shapes = ", ".join("x".join(map(str, t.shape[1:])) + ("" if t.is_floating_point() else f":{str(t.dtype).removeprefix('torch.')}") for t in inputs)
        raise CaptureError(f"{name} fails on inputs of per-sample shape {shapes}: {_one_line(err)}{where}") from err


def _traced(module: Any, inputs: tuple[Any, ...], out: Path) -> None:
    """The fallback capture: TorchScript's tracer, the batch dynamic, the modules' scopes in the node names."""
    import torch

    names = [f"input{i}" for i in range(len(inputs))]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, inputs, str(out), dynamo=False, opset_version=OPSET, input_names=names, dynamic_axes={n: {0: "batch"} for n in names}, do_constant_folding=False)


def _root(err: BaseException) -> BaseException:
    """The first cause of a chain of exceptions (torch.onnx wraps torch.export's own reason)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _one_line(err: BaseException) -> str:
    text = _ANSI.sub("", str(err)).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


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
        onnx_program = torch.onnx.export(program, dynamo=True, opset_version=OPSET, external_data=False, optimize=False)
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
        capture(args.file, args.name, args.out, specs, args.weights)
    except CaptureError as err:
        print(err, file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the user's code or torch.export refused it: one line, the parent reports it
        print(f"capturing {args.name} failed: {_one_line(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
