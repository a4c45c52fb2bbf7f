"""`layer-studio check` on a network of blocks: the blocks listed, each inner layer under its instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from studio.graph.project import Project, save_project
from tests.graph import block_graphs as bg


def test_check_json_lists_blocks_and_the_path_of_every_inner_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "resnet.lstudio"
    save_project(Project("resnet18", bg.resnet18()), path)
    assert main(["check", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["blocks"] == [{"name": "BasicBlock", "instances": 8, "params": 11_689_512 - 9408 - 128 - 513_000}]
    top = [n for n in report["nodes"] if not n["path"]]
    assert len(top) == 17 and sum(n["params"] for n in top) == report["trainable_params"] == 11_689_512
    inner = [n for n in report["nodes"] if n["path"] == ["layer2_0"]]
    assert {n["name"] for n in inner} >= {"conv1", "bn1", "down_conv", "down_bn", "add", "relu2"}
    assert next(n for n in inner if n["name"] == "conv1")["output_shape"] == [None, 128, 28, 28]
    assert all(n["block"] == "BasicBlock" for n in report["nodes"] if n["type"] == "BasicBlock")


def test_the_check_table_indents_a_blocks_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "resnet.lstudio"
    save_project(Project("resnet18", bg.resnet18(size=64)), path)
    assert main(["check", str(path)]) == 0
    table = capsys.readouterr().out
    assert "layer1_0 (BasicBlock)" in table and "\n  conv1 (Conv2d)" in table
