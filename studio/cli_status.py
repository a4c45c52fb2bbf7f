"""The exit statuses every `layer-studio` command shares, reading the project a command is given, the weights limit flag and the seed flag's type."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.graph.project import Project

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
# NOTE: a bug inside an importer exits 3, apart from 2 (a file that cannot be read or is refused
# as unsafe), so a script or a bug report can tell Layer Studio's fault from the file's.
EXIT_INTERNAL = 3


def read_project(path: str | Path) -> Project | None:
    """The project in `path`, or None after saying on stderr why it cannot be read (the command exits 2)."""
    from studio.graph.project import ProjectFileError, load_project

    try:
        return load_project(path)
    except ProjectFileError as err:
        print(f"layer-studio: {err}", file=sys.stderr)
        return None


def add_weights_limit(parser: argparse.ArgumentParser) -> None:
    """The --max-weights-gib flag of the commands that build a network's tensors (export, verify, train, import)."""
    parser.add_argument(
        "--max-weights-gib",
        type=_weights_limit,
        metavar="GIB",
        help="refuse networks whose weights pass this size, before allocating them (default 16, or LAYER_STUDIO_MAX_WEIGHTS_GIB)",
    )


def apply_weights_limit(args: argparse.Namespace) -> None:
    """Make --max-weights-gib, when given, the limit of this command and of the processes it starts."""
    from studio.graph.weights_limit import set_limit

    set_limit(args.max_weights_gib)


def _weights_limit(text: str) -> float:
    from studio.graph.weights_limit import parse_limit

    try:
        return parse_limit(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


MAX_SEED = 2**32 - 1  # the training settings' range, so an export's seed can be a run's


def seed_number(text: str) -> int:
    """An argparse type: a seed from 0 to MAX_SEED."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: give a whole number from 0 to {MAX_SEED}")
    return value
