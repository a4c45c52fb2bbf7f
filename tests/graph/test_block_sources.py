"""Blocks from a library folder or another project: listing, copying in with clashes, broken files skipped."""

from __future__ import annotations

import json
import os

import pytest

from studio.graph.block_sources import (
    LibraryError,
    copy_block,
    folder_offers,
    library_file,
    project_offers,
    same_definition,
    save_to_library,
)
from studio.graph.blocks import BlockLibrary
from studio.graph.model import Graph
from studio.graph.project import Project, dumps_project, load_project, save_project
from studio.graph.shapes import analyse
from tests.graph.block_graphs import basic_block, chain, mlp_block, network


def tower_block(library: BlockLibrary, name: str = "Tower") -> None:
    """A block of two MLP instances: a block that uses another."""
    g = Graph(library=library)
    x = g.add_node("Input", "x", {"shape": (8,)}).id
    chain(g, x, ("MLP", "first", {}), ("MLP", "second", {"hidden": 32}), ("Output", "y", {}))
    library.define(name, g)


def source_library() -> BlockLibrary:
    library = BlockLibrary()
    mlp_block(library)
    tower_block(library)
    basic_block(library)
    return library


def params_of(library: BlockLibrary, block: str) -> int:
    """The learnable parameters of a network of one instance of `block`."""
    graph = network(library, (block, "b", {}))
    return analyse(graph).summary().total_params


def test_copy_brings_the_blocks_it_uses_first_and_counts_the_same():
    source, target = source_library(), BlockLibrary()
    copied = copy_block(source, "Tower", target)
    assert copied.name == "Tower" and [b.name for b in copied.added] == ["MLP", "Tower"] and not copied.renamed
    assert params_of(target, "Tower") == params_of(source, "Tower") > 0
    assert target.get("Tower").graph.library is target


def test_an_identical_definition_is_reused_not_copied_again():
    source, target = source_library(), BlockLibrary()
    copy_block(source, "Tower", target)
    again = copy_block(source, "Tower", target)
    assert again.name == "Tower" and again.added == ()
    assert [b.name for b in target] == ["MLP", "Tower"]


def test_a_name_clash_gets_a_number_and_never_replaces_the_project_block():
    source, target = source_library(), BlockLibrary()
    mine = mlp_block(target, width=4)  # an MLP of another width: a different definition
    copied = copy_block(source, "Tower", target)
    assert copied.renamed == {"MLP": "MLP2"} and [b.name for b in copied.added] == ["MLP2", "Tower"]
    assert target.get("MLP") is mine and mine.graph.node(next(iter(mine.graph.nodes))).params["shape"] == (4,)
    assert {n.type for n in target.get("Tower").graph.nodes.values()} == {"Input", "MLP2", "Output"}
    assert params_of(target, "Tower") == params_of(source, "Tower")
    again = copy_block(source, "Tower", target)  # MLP2 and Tower are the source's now: both reused
    assert again.added == () and again.name == "Tower"


def test_a_clash_of_the_block_itself_and_its_reuse_under_the_new_name():
    source, target = source_library(), BlockLibrary()
    mlp_block(target, name="BasicBlock")
    first = copy_block(source, "BasicBlock", target)
    assert first.name == "BasicBlock2" and params_of(target, "BasicBlock2") == params_of(source, "BasicBlock")
    second = copy_block(source, "BasicBlock", target)
    assert second.name == "BasicBlock2" and second.added == ()
    project = Project("copied", graph=Graph(library=target))
    assert json.loads(dumps_project(project))["blocks"].keys() == {"BasicBlock", "BasicBlock2"}


def test_copying_a_block_that_is_not_there_is_refused():
    with pytest.raises(LibraryError, match="no block called 'Nope'"):
        copy_block(source_library(), "Nope", BlockLibrary())


def test_save_to_library_writes_a_project_that_lists_back(tmp_path):
    source = source_library()
    folder = tmp_path / "blocks"  # made on the first save
    path = save_to_library(source, "Tower", folder)
    assert path == library_file(folder, "Tower") and sorted(os.listdir(folder)) == ["Tower.lstudio"]
    assert same_definition(source, "Tower", path)
    found = folder_offers(folder)
    assert found.skipped == ()
    assert [(o.name, o.uses, o.source) for o in found.offers] == [("MLP", (), path), ("Tower", ("MLP",), path)]
    assert found.offers[1].params == params_of(source, "Tower")
    assert load_project(path).graph.nodes == {}


def test_the_same_block_in_two_files_is_offered_once_and_different_ones_both(tmp_path):
    source = source_library()
    save_to_library(source, "Tower", tmp_path)
    save_to_library(source, "MLP", tmp_path)
    other = BlockLibrary()
    mlp_block(other, width=4)
    project = Project("narrow", graph=Graph(library=other))
    save_project(project, tmp_path / "narrow.lstudio")
    offers = folder_offers(tmp_path).offers
    assert [(o.name, o.source.name) for o in offers] == [("MLP", "MLP.lstudio"), ("Tower", "Tower.lstudio"), ("MLP", "narrow.lstudio")]


def test_broken_and_hostile_files_are_skipped_with_a_reason(tmp_path):
    save_to_library(source_library(), "BasicBlock", tmp_path)
    (tmp_path / "garbage.lstudio").write_text("not json")
    (tmp_path / "binary.lstudio").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "folder.lstudio").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.lstudio")  # reading it would wait for ever
    else:
        (tmp_path / "pipe.lstudio").mkdir()
    os.symlink(tmp_path / "loop.lstudio", tmp_path / "loop.lstudio")
    with open(tmp_path / "huge.lstudio", "wb") as file:
        file.truncate(65 * 2**20)  # sparse: costs no disk
    (tmp_path / "deep.lstudio").write_text("[" * 100_000 + "]" * 100_000)
    cyclic = json.loads(library_file(tmp_path, "BasicBlock").read_text())
    cyclic["blocks"]["BasicBlock"]["graph"]["nodes"]["n99"] = {"type": "BasicBlock", "name": "me", "params": {}, "position": [0, 0]}
    (tmp_path / "cyclic.lstudio").write_text(json.dumps(cyclic))
    unknown = json.loads(library_file(tmp_path, "BasicBlock").read_text())
    next(iter(unknown["blocks"]["BasicBlock"]["graph"]["nodes"].values()))["type"] = "Teleport"
    (tmp_path / "unknown.lstudio").write_text(json.dumps(unknown))
    (tmp_path / "notes.txt").write_text("ignored: not a project file")
    found = folder_offers(tmp_path)
    assert [o.name for o in found.offers] == ["BasicBlock"]
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert set(reasons) == {"garbage.lstudio", "binary.lstudio", "folder.lstudio", "pipe.lstudio", "loop.lstudio", "huge.lstudio", "deep.lstudio", "cyclic.lstudio", "unknown.lstudio"}
    assert "not valid JSON" in reasons["garbage.lstudio"] and "UTF-8" in reasons["binary.lstudio"]
    assert "is a FIFO (named pipe), not a project file" in reasons["pipe.lstudio"] and "is a folder, not a project file" in reasons["folder.lstudio"]
    assert "larger than" in reasons["huge.lstudio"] and "itself" in reasons["cyclic.lstudio"] and "Teleport" in reasons["unknown.lstudio"]


def test_a_missing_folder_offers_nothing_and_a_project_lists_its_blocks(tmp_path):
    assert folder_offers(tmp_path / "none") == folder_offers(tmp_path)
    source = source_library()
    save_project(Project("three", graph=Graph(library=source)), tmp_path / "three.lstudio")
    offers = project_offers(tmp_path / "three.lstudio")
    assert [(o.name, o.uses) for o in offers] == [("BasicBlock", ()), ("MLP", ()), ("Tower", ("MLP",))]


def test_saving_where_the_library_folder_cannot_be_made_says_why(tmp_path):
    (tmp_path / "blocks").write_text("a file where the folder should be")
    with pytest.raises(LibraryError, match="block MLP cannot be saved to .*blocks is a file, not a folder"):
        save_to_library(source_library(), "MLP", tmp_path / "blocks")
    with pytest.raises(LibraryError, match="no block called 'Nope'"):
        save_to_library(source_library(), "Nope", tmp_path)
