"""PyTorch code imports as a project: a module class in a file, built and captured in a child process, opened with its blocks.

The modules are written into each test's folder as a user's `model.py` would be; the import runs
that file in a child process (studio.torch_capture) and reads back only the ONNX file it writes.
"""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path

import pytest
import torch

from studio import torch_capture
from studio.cli import main
from studio.codegen.export import build_torch_model
from studio.codegen.pytorch import generate_pytorch
from studio.graph.project import load_project, save_project
from studio.graph.shapes import analyse
from studio.interop.common import ImportedModel, ModelImportError, import_model
from studio.interop.python_code import import_python, is_code_spec
from tests.interop import onnx_models as om

BLOCK = textwrap.dedent('''
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
            self.bn = nn.BatchNorm2d(channels)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)) + x)


''')

RESIDUAL = BLOCK + textwrap.dedent('''
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.layer = nn.Sequential(Block(8), Block(8))
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            x = self.layer(torch.relu(self.stem(x)))
            return self.fc(x.mean((2, 3)))


    def wide():
        return nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 3))
''')


def loaded(path: Path, name: str) -> torch.nn.Module:
    """The module the test's own file builds, made in this process as the child makes it."""
    return runpy.run_path(str(path))[name]().eval()


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("code") / "model.py"
    path.write_text(RESIDUAL)
    return path


def test_a_module_class_imports_with_its_blocks_counts_and_outputs(code: Path, tmp_path: Path) -> None:
    original = loaded(code, "Net")
    torch.manual_seed(0)
    om.randomized(original)
    weights = tmp_path / "net.pt"
    torch.save(original.state_dict(), weights)
    imported = import_python(f"{code}:Net", ["3x16x16"], weights)
    project = imported.project
    assert project.name == "Net" and "Block" in {b.name for b in project.blocks}
    summary = analyse(project.graph).summary()
    assert summary.trainable_params == sum(p.numel() for p in original.parameters())
    generated = om.generated_model(imported).eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(generated(x), original(x), rtol=1e-5, atol=1e-5)
    keys = {k for k in original.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys <= set(build_torch_model(generate_pytorch(project), 0).state_dict())  # the way back: the original's keys


def test_a_function_returning_a_module_imports_and_the_cli_writes_it(code: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "wide.lstudio"
    assert main(["import", f"{code}:wide", "--input", "4", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "child process" in err and out.is_file()


@pytest.mark.parametrize(
    ("name", "inputs", "says"),
    [
        ("Missing", ["3x16x16"], "defines no 'Missing' (modules it defines: Block, Net)"),
        ("Block", ["3x16x16"], "cannot be built without arguments"),
        ("Net", ["3by16"], "give a per-sample shape such as 3x224x224"),
        ("Net", [], "give each input's per-sample shape with --input (3x224x224, 16:int64), or define example_inputs()"),
        ("Net", ["4x16x16"], "Net fails on inputs of per-sample shape 4x16x16: RuntimeError:"),
        ("wide", ["5"], "wide fails on inputs of per-sample shape 5: RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    ],
)
def test_a_mistake_is_one_clear_line_of_the_child(code: Path, tmp_path: Path, name: str, inputs: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(code), name, str(tmp_path / "out.onnx"), *(arg for shape in inputs for arg in ("--input", shape))]
    assert torch_capture.main(argv) == 2  # the child's own logic, run here to spare a process per case
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and not (tmp_path / "out.onnx").exists()


def test_the_childs_reason_is_the_import_error(code: Path) -> None:
    with pytest.raises(ModelImportError) as err:
        import_python(f"{code}:Block", ["3x16x16"])
    assert str(err.value).startswith(f"{code}:Block: ") and "cannot be built without arguments" in str(err.value) and "Traceback" not in str(err.value)


def test_code_that_never_finishes_is_stopped(tmp_path: Path) -> None:
    path = tmp_path / "endless.py"
    path.write_text("while True:\n    pass\n")
    with pytest.raises(ModelImportError, match="longer than 5 s"):
        import_python(f"{path}:Net", ["4"], timeout=5)


def test_code_specs_are_told_from_files() -> None:
    assert is_code_spec("models/net.py:ResNet") and not is_code_spec("net.onnx") and not is_code_spec("net.py")


def test_a_saved_exported_program_imports(code: Path, tmp_path: Path) -> None:
    original = loaded(code, "Net")
    x = torch.randn(2, 3, 16, 16)
    program = torch.export.export(original, (x,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    saved = tmp_path / "net.pt2"
    torch.export.save(program, saved)
    imported = import_model(saved)  # as `layer-studio import net.pt2` and File > Import Model do
    assert analyse(imported.project.graph).summary().trainable_params == sum(p.numel() for p in original.parameters())
    with torch.no_grad():
        torch.testing.assert_close(om.generated_model(imported).eval()(x), original(x), rtol=1e-5, atol=1e-5)


def test_a_file_that_is_not_a_program_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pt2"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(ModelImportError, match="not a program saved with torch.export.save"):
        import_model(bad)


EXTRAS = textwrap.dedent('''
    import torch
    from torch import nn


    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.fc = nn.Linear(4, 2)

        def forward(self, ids, scale):
            return self.fc(self.emb(ids).mean(1)) * scale


    def example_inputs():
        return torch.randint(0, 10, (1, 7)), torch.rand(1, 1)


    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(6, 4)
            self.b = nn.Linear(6, 4)

        def forward(self, x):
            if x.sum() > -1e9:
                return self.a(x)
            return self.b(x)


    class Sorted(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            y = self.fc(x)
            return y + torch.sort(y, 1)[0]
''')


@pytest.fixture(scope="module")
def extras(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("extras") / "extras.py"
    path.write_text(EXTRAS)
    return path


def with_weights(path: Path, name: str, inputs: list[str], folder: Path) -> tuple[torch.nn.Module, ImportedModel]:
    """The module built here and its import holding the same weights."""
    original = loaded(path, name)
    torch.save(original.state_dict(), folder / f"{name}.pt")
    return original, import_python(f"{path}:{name}", inputs, folder / f"{name}.pt")


def test_the_files_example_inputs_stand_for_input_shapes(extras: Path, tmp_path: Path) -> None:
    original, imported = with_weights(extras, "Tagger", [], tmp_path)
    ids, scale = torch.randint(0, 10, (4, 7)), torch.rand(4, 1)
    with torch.no_grad():
        torch.testing.assert_close(om.generated_model(imported).eval()(ids, scale), original(ids, scale), rtol=1e-5, atol=1e-6)


def test_code_that_torch_export_refuses_is_traced_and_says_so(extras: Path, tmp_path: Path) -> None:
    original, imported = with_weights(extras, "Branchy", ["6"], tmp_path)
    assert any("torch.export could not capture Branchy" in w and "traced with TorchScript" in w for w in imported.warnings)
    x = torch.randn(3, 6)
    with torch.no_grad():
        torch.testing.assert_close(om.generated_model(imported).eval()(x), original(x), rtol=1e-5, atol=1e-6)


def test_an_operation_with_no_layer_is_named_with_its_line_of_code(extras: Path) -> None:
    with pytest.raises(ModelImportError) as err:
        import_python(f"{extras}:Sorted", ["8"])
    message = str(err.value)
    assert message.startswith(f"{extras}:Sorted: 1 operator with no Layer Studio mapping")
    line = EXTRAS.splitlines().index("        return y + torch.sort(y, 1)[0]") + 1
    assert f"aten.sort at extras.py line {line}: return y + torch.sort(y, 1)[0]" in message


DIGITS = BLOCK + textwrap.dedent('''
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1)
            self.layer = nn.Sequential(Block(8), Block(8))
            self.head = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 10))

        def forward(self, x):
            x = self.layer(torch.relu(self.stem(x)))
            return self.head(x.mean((2, 3)))
''')


def test_the_way_back_and_an_edited_import_exports_and_trains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = tmp_path / "digits_net.py"
    code.write_text(DIGITS)
    original = loaded(code, "Net")
    om.randomized(original)
    torch.save(original.state_dict(), tmp_path / "trained.pt")
    project_file = tmp_path / "net.lstudio"
    assert main(["import", f"{code}:Net", "--input", "1x8x8", "--weights", str(tmp_path / "trained.pt"), "-o", str(project_file)]) == 0
    assert main(["export", str(project_file), "--to", "pytorch", "-o", str(tmp_path / "back.py")]) == 0
    fresh = loaded(code, "Net")
    fresh.load_state_dict(torch.load(tmp_path / "back.pt", weights_only=True))  # strict: the original's keys, every one
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), original(x), rtol=1e-5, atol=1e-6)

    project = load_project(project_file)
    head, stage = (next(b for b in project.blocks if b.name == name) for name in ("Head", "Layer"))
    head.graph.set_param(head.graph.node_by_name("0").id, "out_features", 48)  # a layer's width
    stage.graph.set_param(stage.graph.node_by_name("1").id, "repeat", 2)  # a block's repeat count
    save_project(project, project_file)
    capsys.readouterr()
    assert main(["export", str(project_file), "--to", "pytorch", "-o", str(tmp_path / "edited.py")]) == 0
    assert "no longer fit head.0, head.2, layer.1.1.bn, layer.1.1.conv" in capsys.readouterr().err
    edited = torch.load(tmp_path / "edited.pt", weights_only=True)
    assert edited["head.0.weight"].shape == (48, 8) and len([k for k in edited if k.endswith("conv.weight")]) == 3
    torch.testing.assert_close(edited["stem.weight"], original.stem.weight.detach())  # what still fits keeps its numbers
    assert main(["train", str(project_file), "--epochs", "1", "--out", str(tmp_path / "runs")]) == 0
    assert "best validation accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"some notes, not weights\n", b"PK\x03\x04 cut short"])
def test_weights_that_are_not_a_state_dict_are_one_line_of_the_child(code: Path, tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(content)
    argv = [str(code), "Net", str(tmp_path / "out.onnx"), "--input", "3x16x16", "--weights", str(weights)]
    assert torch_capture.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert f"{weights}: cannot be read as PyTorch weights" in err and len(err.splitlines()) == 1 and not (tmp_path / "out.onnx").exists()
