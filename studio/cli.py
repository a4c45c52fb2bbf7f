"""The `layer-studio` command: the same functions as the editor, without a window."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from studio.cli_check import cmd_check, print_json
from studio.cli_status import (
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREADABLE,
    add_weights_limit,
    apply_weights_limit,
    read_project,
    seed_number,
)
from studio.graph.bulk import collector_paused

EXPORT_TARGETS = (
    "pytorch",
    "keras",
    "onnx",
    "litert",
    "caffe",
    "script",
)  # studio.codegen.export.TARGETS, without importing it


COMMANDS = ("layers", "check", "export", "verify", "train", "import", "blocks")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (
        len(argv) == 1 and argv[0] not in COMMANDS and not argv[0].startswith("-")
    ):
        return open_editor(argv[0] if argv else None)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print("layer-studio: interrupted", file=sys.stderr)
        return 130


def open_editor(path: str | None) -> int:
    """`layer-studio [FILE]`: the editor, or one line saying why it cannot open here."""
    reason = missing_display()
    if reason:
        print(
            f"layer-studio: cannot open the editor: {reason}. Headless commands work here: "
            "`layer-studio check FILE`, `layer-studio export FILE --to TARGET -o OUT`, "
            "`layer-studio train FILE`, `layer-studio layers`.",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    from studio.ui.app import run

    return run(path)


def missing_display() -> str:
    """Why no window can be shown here, or "" when one can (Qt's offscreen platform counts as one)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return ""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return ""


class _OneLineParser(argparse.ArgumentParser):
    """argparse with its complaint on one line (no usage block before it), as every other refusal is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_UNREADABLE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="layer-studio",
        description="Design, check, train and export neural networks. "
        "`layer-studio [FILE]` opens the editor; the commands below work without a window.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    layers = sub.add_parser("layers", help="list the layer catalogue")
    layers.add_argument(
        "--json", action="store_true", help="print the catalogue as JSON"
    )
    layers.set_defaults(run=_cmd_layers)

    check = sub.add_parser(
        "check", help="analyse a project: shapes, parameters, MACs, problems"
    )
    check.add_argument("file", help="a .lstudio project file")
    check.add_argument("--json", action="store_true", help="print the analysis as JSON")
    check.set_defaults(run=cmd_check)

    export = sub.add_parser("export", help="write the project as code with its weights")
    export.add_argument("file", help="a .lstudio project file")
    export.add_argument(
        "--to", required=True, choices=EXPORT_TARGETS, help="the export target"
    )
    export.add_argument(
        "-o",
        "--output",
        required=True,
        help="the file to write (weights go beside it: .pt for PyTorch, .weights.h5 for Keras)",
    )
    export.add_argument(
        "--seed", type=seed_number, default=0, help="seed of the initial weights (default 0)"
    )
    export.add_argument(
        "--weights",
        help="a state dict (.pt, or .npz of NumPy arrays) to export instead of the "
        "project's own weights (training.weights; layers edited since they were made start from --seed, "
        "with a warning) or, without those, seeded weights",
    )
    from studio.codegen.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET

    export.add_argument(
        "--opset",
        type=int,
        choices=range(MIN_OPSET, MAX_OPSET + 1),
        metavar="N",
        help=f"the ONNX opset to write, {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET}, which ONNX Runtime, "
        f"OpenVINO and onnx2torch read; x2paddle reads up to 15; {MAX_OPSET} writes GELU, Mish, GroupNorm and RMSNorm "
        "as one operator each); --to onnx only",
    )
    export.add_argument(
        "--batch",
        type=int,
        metavar="N",
        help="the static batch of a LiteRT model, 1 to 4096 (default 1: LiteRT runs a model at the batch it was "
        "converted for); --to litert only",
    )
    add_weights_limit(export)
    export.set_defaults(run=_cmd_export)
    from studio.cli_verify import add_verify_parser

    add_verify_parser(sub)
    from studio.cli_train import add_train_parser  # its own module: the largest command

    add_train_parser(sub)
    _add_import_parser(sub)
    from studio.cli_blocks import add_blocks_parser

    add_blocks_parser(sub)
    return parser


# ----- layers -----
def catalogue_as_json() -> list[dict[str, Any]]:
    """The catalogue in the documented JSON form of `layer-studio layers --json`."""
    from studio.codegen.litert import LIMITS, litert_target
    from studio.graph.catalogue import CATALOGUE

    def mapping(spec: Any) -> dict[str, str | None]:
        forms = {t: (v if isinstance(v, str) else None) for t, v in spec.targets.items()}
        converted = forms.get("pytorch") and litert_target(spec) is True
        return {**forms, "litert": f"{forms['pytorch']}, converted by litert-torch" if converted else None}

    return [
        {
            "type": spec.type,
            "category": spec.category,
            "doc": spec.doc,
            "params": [p.as_dict() for p in spec.params],
            "inputs": [port.name for port in spec.inputs]
            if not spec.variadic
            else "in1..inN (num_inputs)",
            "outputs": [port.name for port in spec.outputs]
            if spec.pieces is None
            else "out1..outN (one per piece)",
            "targets": {**spec.target_info(), "litert": litert_target(spec)},
            "mapping": mapping(spec),
            "limits": {"litert": LIMITS[spec.type].summary} if spec.type in LIMITS else {},
        }
        for spec in CATALOGUE.values()
    ]


def _cmd_layers(args: argparse.Namespace) -> int:
    entries = catalogue_as_json()
    if args.json:
        print_json(entries)
        return EXIT_OK
    by_category: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_category.setdefault(entry["category"], []).append(entry)
    width = max(len(e["type"]) for e in entries)
    for category, members in by_category.items():
        print(category)
        for e in members:
            missing = [t for t, v in e["targets"].items() if v is not True]
            note = f"  [not in: {', '.join(missing)}]" if missing else ""
            note += "".join(f"  [{t}: {limit}]" for t, limit in e["limits"].items())
            print(f"  {e['type']:<{width}}  {e['doc']}{note}")
    print(
        f"\n{len(entries)} layer types. `layer-studio layers --json` adds parameters and target notes."
    )
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from studio.cli_progress import ProgressLine
    from studio.codegen.export import ExportWriteError, WeightsError, export_project
    from studio.codegen.keras_backend import KerasBackendError
    from studio.codegen.names import CodegenError
    from studio.graph.project import trained_weights

    apply_weights_limit(args)
    project = read_project(args.file)
    if project is None:
        return EXIT_UNREADABLE
    if args.opset is not None and args.to != "onnx":
        print(f"layer-studio: --opset applies to --to onnx, not --to {args.to}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.batch is not None and args.to != "litert":
        print(f"layer-studio: --batch applies to --to litert, not --to {args.to}", file=sys.stderr)
        return EXIT_UNREADABLE
    from studio.codegen.litert import MAX_BATCH

    if args.batch is not None and not 1 <= args.batch <= MAX_BATCH:
        print(f"layer-studio: --batch {args.batch} is not possible: choose 1 to {MAX_BATCH}", file=sys.stderr)
        return EXIT_UNREADABLE
    weights = args.weights or trained_weights(project, args.file)
    try:
        with ProgressLine() as progress:  # Ctrl-C stops it anywhere and nothing is left written (exit 130)
            result = export_project(
                project,
                args.to,
                args.output,
                seed=args.seed,
                weights=weights,
                project_path=args.file,
                opset=args.opset,
                batch=args.batch,
                partial=not args.weights,  # the project's own weights may have been outgrown by an edit
                progress=progress,
            )
    except CodegenError as err:
        print(f"layer-studio: {args.file}: {err}", file=sys.stderr)
        return EXIT_INVALID
    except (ExportWriteError, WeightsError, KerasBackendError) as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    for path in result.files:
        print(f"wrote {path}")
    for warning in result.warnings:
        print(f"layer-studio: warning: {warning}", file=sys.stderr)
    return EXIT_OK


# ----- import -----
IMPORT_EPILOG = """\
The weights are stored beside the project as NAME.weights.npz (NumPy arrays, no pickle);
the project's training settings point at them, so `layer-studio export` carries them.

Exit status: 0 written; 1 the model uses operators or layers with no mapping (every one is
listed: type, count, first node); 2 the file cannot be read or is refused as unsafe, or the
project cannot be written; 3 an internal error of Layer Studio (a bug: the message names the
node being imported; please report it with the file)."""


def _add_import_parser(sub: Any) -> None:
    imported = sub.add_parser(
        "import",
        help="turn an ONNX model or a Caffe prototxt into a project with its weights",
        epilog=IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imported.add_argument("model", help="an .onnx file, a Caffe .prototxt, or PyTorch code as FILE.py:NAME (a module class or a function returning one)")
    imported.add_argument("--input", action="append", default=[], metavar="SHAPE[:DTYPE]", help="for FILE.py:NAME, each input's per-sample shape: 3x224x224, 16:int64 (not needed where the file defines example_inputs())")
    imported.add_argument("--weights", metavar="STATE.pt", help="for FILE.py:NAME, a state dict to load into the module first")
    imported.add_argument(
        "-o",
        "--output",
        required=True,
        help="the project file to write (.lstudio); the weights go beside it",
    )
    imported.add_argument(
        "--flat",
        action="store_true",
        help="keep every layer at the top level (by default an ONNX file's PyTorch modules become blocks)",
    )
    add_weights_limit(imported)
    imported.set_defaults(run=_cmd_import)


@collector_paused()  # a one-shot command: the collector would walk the whole imported graph between its steps
def _cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.cli_progress import ProgressLine
    from studio.interop.common import (
        InternalImportError,
        ModelImportError,
        UnsupportedLayersError,
        import_model,
    )
    from studio.interop.python_code import import_python, is_code_spec

    apply_weights_limit(args)
    try:
        code = is_code_spec(args.model)
        if code:
            print(f"layer-studio: running {args.model.rsplit(':', 1)[0]} in a child process to build its module (importing code runs it)", file=sys.stderr)
        with ProgressLine() as progress:
            if code:
                progress.step(f"capturing {args.model}")
                model = import_python(args.model, args.input, Path(args.weights) if args.weights else None, blocks=not args.flat)
            else:
                progress.step(f"reading {Path(args.model).name}")
                model = import_model(Path(args.model), blocks=not args.flat)
            progress.writing(f"writing {Path(args.output).name}")
            written = _write_whole(model, Path(args.output))
    except UnsupportedLayersError as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return EXIT_INVALID
    except InternalImportError as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return EXIT_INTERNAL
    except ModelImportError as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    for warning in model.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _write_whole(model: Any, out: Any) -> list[Any]:
    """`write_imported`, and on Ctrl-C the files it had begun to create removed again: no project without its weights."""
    from studio.interop.common import weights_path, write_imported

    fresh = [path for path in (out, weights_path(out)) if not path.exists()]
    try:
        return write_imported(model, out)
    except KeyboardInterrupt:
        for path in fresh:
            path.unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
