"""`layer-studio blocks`: the blocks of a project, or of the user's block library, as a table or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from studio.cli_check import print_json
from studio.cli_status import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, read_project

BLOCKS_EPILOG = """\
A project's blocks are listed with their instances (in the network and inside other blocks) and
the learnable parameters of all of them together. The library's blocks (the .lstudio files of
<settings folder>/blocks, $LAYER_STUDIO_HOME/blocks when that is set) are listed with the file
that holds each and its parameters at the shapes of its own Inputs; files that cannot be read are
named with the reason, and skipped.

Exit status: 0 listed; 1 the project's network does not check (its blocks are still listed);
2 the file cannot be read, or FILE and --library are both given or both missing."""


def add_blocks_parser(sub: Any) -> None:
    """The `blocks` subcommand."""
    blocks = sub.add_parser(
        "blocks",
        help="list the blocks of a project, or of your block library",
        epilog=BLOCKS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    blocks.add_argument("file", nargs="?", help="a .lstudio project file")
    blocks.add_argument("--library", action="store_true", help="list the blocks of your block library instead")
    blocks.add_argument("--json", action="store_true", help="print the list as JSON")
    blocks.set_defaults(run=cmd_blocks)


def cmd_blocks(args: argparse.Namespace) -> int:
    """List a project's blocks, or the library's."""
    if bool(args.file) == bool(args.library):
        print("layer-studio blocks: give a project file or --library (one of them)", file=sys.stderr)
        return EXIT_UNREADABLE
    return _library(args) if args.library else _project(args)


def _project(args: argparse.Namespace) -> int:
    from studio.cli_check import check_report
    project = read_project(args.file)
    if project is None:
        return EXIT_UNREADABLE
    report = check_report(project)
    rows = [{**entry, "description": project.blocks.get(entry["name"]).description} for entry in report["blocks"]]  # type: ignore[union-attr]
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    if args.json:
        print_json(rows)
    elif not rows:
        print(f"{args.file}: no blocks")
    else:
        _table(["block", "instances", "params", "description"], [[r["name"], str(r["instances"]), f"{r['params']:,}", r["description"]] for r in rows], right={1, 2})
    if errors:
        print(f"layer-studio: {args.file}: the network does not check ({len(errors)} problem{'s' if len(errors) > 1 else ''}; "
              "`layer-studio check` lists them): the parameter counts leave out what fails", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _library(args: argparse.Namespace) -> int:
    from studio.graph.block_sources import folder_offers
    from studio.ui.library_folder import library_dir

    folder = library_dir()
    found = folder_offers(folder)
    if args.json:
        print_json({
            "folder": str(folder),
            "blocks": [{"name": o.name, "file": str(o.source), "uses": list(o.uses), "params": o.params, "description": o.description} for o in found.offers],
            "skipped": [{"file": str(s.path), "reason": s.reason} for s in found.skipped],
        })
    elif not found.offers:
        print(f"no blocks in the library ({folder}): save one from the editor with Save Block to Library")
    else:
        rows = [[o.name, "-" if o.params is None else f"{o.params:,}", o.source.name, o.description] for o in found.offers]
        _table(["block", "params", "file", "description"], rows, right={1})
        print(f"\n{len(found.offers)} block{'s' if len(found.offers) != 1 else ''} in {folder}")
    for skipped in found.skipped:
        print(f"layer-studio: skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    return EXIT_OK


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> None:
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]  # a description's line breaks would break the table
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join([*cells, row[-1]]).rstrip())
