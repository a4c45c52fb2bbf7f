"""Blocks from outside a project: the user's library folder and other project files, and copying them in.

A library folder holds `.lstudio` projects whose blocks are offered (Save Block to Library writes one
small project per block, `<Name>.lstudio`). A block is copied into a project with the blocks it uses:
a definition the project already has is reused, and a name the project uses for a different
definition gets a number (`BasicBlock2`), so nothing is ever replaced.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.graph.atomic import describe_os_error, write_atomically
from studio.graph.blocks import Block, BlockError, BlockLibrary, Exposed
from studio.graph.graph_records import (
    RecordError,
    build_graph,
    graph_to_dict,
    read_graph,
)
from studio.graph.model import Graph
from studio.graph.project import (
    MAX_FILE_BYTES,
    Project,
    ProjectFileError,
    dumps_project,
    load_project,
)
from studio.graph.regular_files import NotRegularFileError, check_regular
from studio.graph.shapes import snapshot_analysis

SUFFIX = ".lstudio"
MAX_FILES = 500  # a folder of more project files is read only this far


class LibraryError(Exception):
    """A block that cannot be saved to or copied from a library; the message says why."""


@dataclass(frozen=True)
class BlockOffer:
    """A block another file offers: its name, description, the file, the blocks it uses and its parameter count."""

    name: str
    description: str
    source: Path
    uses: tuple[str, ...]  # the blocks it uses, directly or through others, in dependency order
    params: int | None  # learnable parameters at its own Inputs' shapes; None where it does not check there


@dataclass(frozen=True)
class Skipped:
    """A file of the folder whose blocks are not offered, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FolderOffers:
    """What a library folder offers, and the files it skipped."""

    offers: tuple[BlockOffer, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True)
class Copied:
    """The result of a copy: the name the block has in the project and the blocks newly defined there."""

    name: str
    added: tuple[Block, ...]  # in dependency order; empty when every definition was already there
    renamed: dict[str, str]  # source name -> project name, for the blocks that got another name


# ----- listing -----
def load_blocks(path: str | os.PathLike[str]) -> BlockLibrary:
    """The blocks of a project file; ProjectFileError names the file and what is wrong with it."""
    source = Path(path)
    _check_regular(source)
    return load_project(source).blocks


def project_offers(path: str | os.PathLike[str], library: BlockLibrary | None = None) -> list[BlockOffer]:
    """The blocks a project file offers, in the file's dependency order; ProjectFileError if it cannot be read."""
    source = Path(path)
    library = library if library is not None else load_blocks(source)
    return [_offer(library, block, source) for block in library]


def folder_offers(folder: str | os.PathLike[str]) -> FolderOffers:
    """Every block offered by the `.lstudio` files of a folder (a missing folder offers none); broken files are skipped with a reason."""
    root = Path(folder)
    try:
        names = sorted(entry.name for entry in os.scandir(root) if entry.name.endswith(SUFFIX) and not entry.name.startswith("."))
    except FileNotFoundError:
        return FolderOffers((), ())
    except OSError as err:
        return FolderOffers((), (Skipped(root, f"the folder cannot be read: {err.strerror or err}"),))
    offers: list[BlockOffer] = []
    skipped: list[Skipped] = [Skipped(root / name, f"not read: the folder holds more than {MAX_FILES} project files") for name in names[MAX_FILES:]]
    seen: dict[str, list[Any]] = {}
    for name in names[:MAX_FILES]:
        path = root / name
        try:
            library = load_blocks(path)
        except ProjectFileError as err:
            skipped.append(Skipped(path, f"{err.place}: {err.reason}" if err.place else err.reason or str(err)))
            continue
        except (OSError, RecursionError, MemoryError, ValueError) as err:
            skipped.append(Skipped(path, f"cannot be read: {err}"))
            continue
        if not len(library):
            skipped.append(Skipped(path, "holds no blocks"))
            continue
        keys = _keys(library)
        for block in library:
            same = seen.setdefault(block.name, [])
            if keys[block.name] in same:
                continue  # the same definition saved in another file (a block it uses, say): offered once
            same.append(keys[block.name])
            offers.append(_offer(library, block, path))
    return FolderOffers(tuple(offers), tuple(skipped))


def _check_regular(path: Path) -> None:
    try:
        info = check_regular(path, "project file")
    except NotRegularFileError as err:
        raise ProjectFileError(str(err), str(path), "", err.reason) from None
    except FileNotFoundError:
        raise ProjectFileError(f"{path}: no such file", str(path), "", "no such file") from None
    except OSError as err:
        reason = f"cannot be read: {err.strerror or err}"
        raise ProjectFileError(f"{path}: {reason}", str(path), "", reason) from None
    if info.st_size > MAX_FILE_BYTES:
        reason = f"is larger than {MAX_FILE_BYTES // 2**20} MiB: not a Layer Studio project"
        raise ProjectFileError(f"{path}: {reason}", str(path), "", reason)


def _offer(library: BlockLibrary, block: Block, source: Path) -> BlockOffer:
    return BlockOffer(block.name, block.description, source, tuple(used_blocks(library, block.name)[:-1]), block_params(block))


def used_blocks(library: BlockLibrary, name: str) -> list[str]:
    """`name` and every block it uses, directly or through others, each after the blocks it uses."""
    order: list[str] = []

    def visit(current: str) -> None:
        if current in order:
            return
        block = library.get(current)
        if block is None:
            return
        for node in block.graph.nodes.values():
            if node.type in library and node.type != current:
                visit(node.type)
        order.append(current)

    visit(name)
    return order


def block_params(block: Block) -> int | None:
    """The learnable parameters of a block run at its own Inputs' shapes; None where it does not check there."""
    analysis = snapshot_analysis(block.graph)
    if any(d.severity == "error" for d in analysis.diagnostics()):
        return None
    return sum(result.params for result in analysis.results().values())


# ----- copying -----
def copy_block(source: BlockLibrary, name: str, target: BlockLibrary) -> Copied:
    """Copy block `name` and the blocks it uses from `source` into `target`.

    A definition `target` already has (under its own name, else under any) is reused; a name
    `target` uses for a different definition gets a number. Raises LibraryError (and leaves
    `target` as it was) when the block is missing or cannot be defined there.
    """
    if name not in source:
        raise LibraryError(f"there is no block called {name!r} to copy")
    return copy_blocks(source, [name], target)


def copy_blocks(source: BlockLibrary, names: list[str], target: BlockLibrary) -> Copied:
    """Copy several blocks (and what they use) in one go; `Copied.name` is the first one's name in `target`."""
    order: list[str] = []
    for name in names:
        order += [n for n in used_blocks(source, name) if n not in order]
    mapping: dict[str, str] = {}
    added: list[Block] = []
    existing = {block.name: _key(block, {}) for block in target}
    try:
        for name in order:
            block = source.get(name)
            assert block is not None
            key = _key(block, mapping)
            same = name if existing.get(name) == key else next((other for other, k in existing.items() if k == key), None)
            if same is not None:
                mapping[name] = same
                continue
            new = _free_name(target, name)
            added.append(_define(block, new, mapping, target))
            mapping[name] = new
            existing[new] = key
    except (BlockError, RecordError) as err:
        for block in reversed(added):
            target.remove(block.name)
        raise LibraryError(f"block {name} cannot be copied: {err}") from None
    first = mapping[names[0]] if names else ""
    return Copied(first, tuple(added), {old: new for old, new in mapping.items() if old != new})


def _define(block: Block, name: str, mapping: dict[str, str], target: BlockLibrary) -> Block:
    data = _renamed_graph(block.graph, mapping)
    nodes, edges = read_graph(data, ("blocks", name, "graph"), target)
    graph = build_graph(Graph(library=target, owner=name), nodes, edges, ("blocks", name, "graph"))
    return target.define(name, graph, tuple(block.exposed), block.description)


def _renamed_graph(graph: Graph, mapping: dict[str, str]) -> dict[str, Any]:
    data = graph_to_dict(graph)
    for node in data["nodes"].values():
        node["type"] = mapping.get(node["type"], node["type"])
    return data


def _key(block: Block, mapping: dict[str, str]) -> tuple[Any, ...]:
    """What makes two definitions the same: layers, names, parameters, wires and exposed parameters (not places or descriptions)."""
    data = _renamed_graph(block.graph, mapping)
    nodes = sorted((node_id, node["type"], node["name"], repr(sorted(node["params"].items()))) for node_id, node in data["nodes"].items())
    edges = [(tuple(e["from"]), tuple(e["to"])) for e in data["edges"]]
    exposed: tuple[Exposed, ...] = tuple(block.exposed)
    return (tuple(nodes), tuple(edges), repr(exposed))


def _keys(library: BlockLibrary) -> dict[str, tuple[Any, ...]]:
    return {block.name: _key(block, {}) for block in library}


def _free_name(target: BlockLibrary, name: str) -> str:
    try:
        target.check_name(name)
        return name
    except BlockError:
        pass
    base = re.sub(r"\d+$", "", name) or name
    for k in range(2, 10_000):
        candidate = f"{base}{k}"[:64]
        if candidate not in target:
            try:
                target.check_name(candidate)
            except BlockError:
                continue
            return candidate
    raise BlockError(f"no free name is left for a copy of block {name}")


# ----- saving -----
def library_file(folder: str | os.PathLike[str], name: str) -> Path:
    """Where Save Block to Library writes block `name`."""
    return Path(folder) / f"{name}{SUFFIX}"


def saved_block(library: BlockLibrary, name: str) -> Project:
    """A small project holding block `name` and the blocks it uses, with an empty network."""
    block = library.get(name)
    if block is None:
        raise LibraryError(f"the project has no block called {name!r}")
    project = Project(name, description=block.description)
    copy_block(library, name, project.blocks)
    return project


def save_to_library(library: BlockLibrary, name: str, folder: str | os.PathLike[str]) -> Path:
    """Write block `name` (with the blocks it uses) to `<folder>/<name>.lstudio` atomically; return the path.

    Raises:
        LibraryError: the block is missing, or the file cannot be written (the message says why).
    """
    project = saved_block(library, name)
    path = library_file(folder, name)
    if Path(folder).exists() and not Path(folder).is_dir():
        raise LibraryError(f"block {name} cannot be saved to {path}: {folder} is a file, not a folder")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        write_atomically(path, dumps_project(project).encode("utf-8"))
    except OSError as err:
        raise LibraryError(f"block {name} cannot be saved to {path}: {describe_os_error(err)}") from None
    return path


def same_definition(library: BlockLibrary, name: str, path: str | os.PathLike[str]) -> bool:
    """True when the file at `path` already holds block `name` as `library` defines it (with the blocks it uses)."""
    try:
        other = load_blocks(path)
    except ProjectFileError:
        return False
    for block in saved_block(library, name).blocks:
        theirs = other.get(block.name)
        if theirs is None or _key(theirs, {}) != _key(block, {}):
            return False
    return True
