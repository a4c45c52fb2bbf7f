"""Names a generated file uses itself, given to a project's layers, blocks and name: every export still runs.

The names are read from the templates (`script_names`, `KERAS_NAMES`, `model_reserved`), so a name a
template gains later is covered without editing this test.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from studio.codegen.keras import KERAS_NAMES
from studio.codegen.names import RESERVED
from studio.codegen.pytorch import generate_pytorch, model_reserved
from studio.codegen.script import generate_script
from studio.codegen.script_template import script_names
from studio.graph import CATALOGUE
from studio.graph.blocks import BlockLibrary
from studio.graph.model import Graph
from studio.graph.project import Project
from tests.codegen.helpers import assert_keras_parity, run_source
from tests.graph.block_graphs import chain

# The names of issue 19: each once shadowed a global of the training script.
ISSUE_NAMES = ("TensorDataset", "DataLoader", "LOSSES", "SETTINGS", "INPUTS", "DATASET", "VOCABULARY")
WIDTH = 4

# Keras 3.15 variables predate numpy 2's __array__(copy=...); loading weights warns inside Keras.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def template_globals() -> list[str]:
    """Every name the generated files' fixed text uses, beyond keywords and builtins, read from the templates."""
    names = set(script_names()) | set(KERAS_NAMES) | (model_reserved() - RESERVED)
    return sorted(n for n in names if n.isidentifier() and not n.startswith("_"))


def clashing_project() -> Project:
    """A project named SETTINGS whose layers, blocks and block layers carry the templates' names."""
    names = sorted(set(ISSUE_NAMES) | set(template_globals()))
    library = BlockLibrary()
    capitalized = [n for n in names if n[0].isupper() and n not in CATALOGUE]  # the names a block's class could take
    for name in capitalized:
        inner = Graph()
        x = inner.add_node("Input", "INPUTS", {"shape": (WIDTH,)}).id
        chain(inner, x, ("Linear", "SETTINGS", {"out_features": WIDTH}), ("ReLU", "DataLoader", {}), ("Output", "LOSSES", {}))
        library.define(name, inner)
    graph = Graph(library=library)
    src = graph.add_node("Input", "TensorDataset", {"shape": (WIDTH,)}).id
    layers = [("Linear", name, {"out_features": WIDTH}) for name in names if name != "TensorDataset"]
    layers += [(name, f"use {k}", {}) for k, name in enumerate(capitalized)]
    chain(graph, src, *layers, ("Linear", "head", {"out_features": 3}), ("Output", "logits", {}))
    return Project("SETTINGS", graph)


def test_the_names_come_from_the_templates() -> None:
    found = set(template_globals())
    assert {"SETTINGS", "INPUTS", "DATASET", "VOCABULARY", "Part", "main", "make_loss", "Schedule"} <= found  # the script's
    assert {"keras", "layers", "ops", "ChannelBias"} <= found  # the Keras file's
    assert {"Standardize", "build_model"} <= set(model_reserved())  # the PyTorch file's


def test_no_name_of_the_script_is_bound_twice() -> None:
    """A class, function or global of the model never takes a name the script's own text binds or imports."""
    source = generate_script(clashing_project())
    bound: Counter[str] = Counter()
    imported: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound[node.name] += 1
        elif isinstance(node, (ast.Import, ast.ImportFrom)):  # the recipe, copied verbatim, imports torch again
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(t.id for t in targets if isinstance(t, ast.Name))
    assert [name for name, times in bound.items() if times > 1 or name in imported] == []


def test_the_script_model_is_the_pytorch_export() -> None:
    project = clashing_project()
    model = generate_pytorch(project).split("\n\n", 1)[1].replace("import torch\nfrom torch import nn\n", "").strip()
    assert model in generate_script(project)  # so the export's weights load into the script's model


def test_the_pytorch_and_keras_files_build_and_agree(tmp_path: Path) -> None:
    project = clashing_project()
    model = run_source(generate_pytorch(project))["build_model"]()
    assert model(torch.randn(2, WIDTH)).shape == (2, 3)
    assert_keras_parity(project, tmp_path)


def test_the_script_trains_an_epoch(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(generate_script(clashing_project()), encoding="utf-8")
    args = [sys.executable, str(script), "--synthetic", "16", "--epochs", "1", "--batch-size", "8", "--out", "ck"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "epoch 1/1" in done.stdout and (tmp_path / "ck" / "last.pt").is_file()
