"""`layer-studio blocks`: a project's blocks, or the user library's, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from studio.graph.block_sources import save_to_library
from studio.graph.project import Project, save_project
from tests.graph import block_graphs as bg

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAYER_STUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_projects_blocks_with_instances_and_params(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blocks", str(EXAMPLES / "resnet18_blocks.lstudio"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["instances"], r["params"]) for r in rows] == [("BasicBlock", 8, 11_689_512 - 9408 - 128 - 513_000)]
    assert "shortcut" in rows[0]["description"]
    assert main(["blocks", str(EXAMPLES / "bert_mini_blocks.lstudio")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["block", "instances", "params", "description"]
    assert table[1].split()[:2] == ["EncoderLayer", "1"]


def test_a_project_without_blocks_and_one_that_does_not_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blocks", str(EXAMPLES / "digits_cnn.lstudio")]) == 0
    assert capsys.readouterr().out.strip().endswith("no blocks")
    library = bg.BlockLibrary()
    bg.basic_block(library)
    path = tmp_path / "wrong.lstudio"
    save_project(Project("wrong", bg.network(library, ("BasicBlock", "b", {}), shape=(8,))), path)  # convolutions need an image
    status = main(["blocks", str(path)])
    out, err = capsys.readouterr()
    assert status == 1 and "BasicBlock" in out
    assert "does not check (1 problem;" in err and "layer-studio check" in err


def test_usage_mistakes_and_unreadable_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path) -> None:
    assert main(["blocks"]) == 2
    assert "give a project file or --library" in capsys.readouterr().err
    assert main(["blocks", str(EXAMPLES / "digits_cnn.lstudio"), "--library"]) == 2
    capsys.readouterr()
    assert main(["blocks", str(tmp_path / "missing.lstudio")]) == 2
    assert "missing.lstudio: no such file" in capsys.readouterr().err


def test_the_library_lists_saved_blocks_and_names_skipped_files(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blocks", "--library"]) == 0
    assert "no blocks in the library" in capsys.readouterr().out
    library = bg.BlockLibrary()
    bg.basic_block(library)
    save_to_library(library, "BasicBlock", home / "blocks")
    (home / "blocks" / "broken.lstudio").write_text("{")
    assert main(["blocks", "--library"]) == 0
    out, err = capsys.readouterr()
    assert "BasicBlock" in out and "BasicBlock.lstudio" in out and "1 block in" in out
    assert "skipped" in err and "broken.lstudio" in err
    assert main(["blocks", "--library", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in listed["blocks"]] == ["BasicBlock"] and listed["folder"] == str(home / "blocks")
    assert listed["blocks"][0]["params"] > 0 and [Path(s["file"]).name for s in listed["skipped"]] == ["broken.lstudio"]
