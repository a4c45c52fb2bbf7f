"""Weights files, enormous networks and checkpoints through the command line: exit 2, one line, nothing allocated or written."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.cli import main
from studio.graph.model import Graph
from studio.graph.project import Project, save_project

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "assets" / "examples" / "mlp.lstudio"
MEMORY = 3 * 2**30  # address space of a child below: torch loads in it, an 8 GiB array does not


def studio(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`layer-studio ARGS` in a fresh process whose address space is limited, so an allocation of what a file declares fails."""

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # this checkout's studio
    return subprocess.run(
        [sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False, preexec_fn=limited
    )


def refused_in_one_line(code: int, err: str, *words: str) -> str:
    assert "Traceback" not in err, err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def huge_project(folder: Path) -> Path:
    """One Linear of 10^6 x 10^6: 3.6 TiB of weights."""
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (10**6,)})
    fc = graph.add_node("Linear", "fc", {"out_features": 10**6})
    y = graph.add_node("Output", "y")
    graph.connect(x.id, "out", fc.id, "in")
    graph.connect(fc.id, "out", y.id, "in")
    path = folder / "huge.lstudio"
    save_project(Project("huge", graph), path)
    return path


def lying_npz(path: Path) -> Path:
    """A few hundred bytes whose one member's header declares 8 GiB."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**31,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hidden1.weight.npy", header.getvalue() + bytes(64))
    return path


def test_an_npz_declaring_8_gib_and_an_enormous_network_exit_2_in_a_process_that_could_not_hold_them(tmp_path: Path) -> None:
    lying = studio("export", MLP, "--to", "pytorch", "-o", tmp_path / "out.py", "--weights", lying_npz(tmp_path / "lie.npz"), cwd=tmp_path)
    refused_in_one_line(lying.returncode, lying.stderr, "lie.npz", "declares (2147483648,) float32 (8 GiB) but holds 64 bytes")
    huge = studio("export", huge_project(tmp_path), "--to", "onnx", "-o", tmp_path / "huge.onnx", "--max-weights-gib", "100", cwd=tmp_path)
    refused_in_one_line(huge.returncode, huge.stderr, "needs 3.6 TiB of weights (1e12 parameters); the limit is 100 GiB", "--max-weights-gib", "LAYER_STUDIO_MAX_WEIGHTS_GIB")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.lstudio", "lie.npz"]


@pytest.mark.parametrize("content", [b"these are not weights\n", b"PK\x03\x04 cut", b""])
def test_export_with_a_weights_file_that_is_not_one_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(content)
    code = main(["export", str(MLP), "--to", "pytorch", "-o", str(tmp_path / "out.py"), "--weights", str(weights)])
    refused_in_one_line(code, capsys.readouterr().err, "w.pt")
    assert not (tmp_path / "out.py").exists()


def test_a_projects_own_weights_that_are_text_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "mlp.lstudio"
    project.write_text(MLP.read_text().replace('"weights": ""', '"weights": "notes.npz"'))
    (tmp_path / "notes.npz").write_text("shopping list\n")
    assert '"notes.npz"' in project.read_text()
    code = main(["export", str(project), "--to", "onnx", "-o", str(tmp_path / "out.onnx")])
    refused_in_one_line(code, capsys.readouterr().err, "notes.npz", "is not a weights file")


@pytest.mark.parametrize("command", ["train", "verify"])
def test_train_and_verify_refuse_an_enormous_network_with_its_size(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    project = huge_project(tmp_path)
    args = ["train", str(project), "--epochs", "1", "--dataset", "blobs", "--out", str(tmp_path / "runs")] if command == "train" else ["verify", str(MLP), str(project)]
    if command == "verify":
        main(["export", str(MLP), "--to", "pytorch", "-o", str(tmp_path / "mlp.py")])
        args[1] = str(tmp_path / "mlp.py")
        capsys.readouterr()
    code = main(args)
    refused_in_one_line(code, capsys.readouterr().err, "needs 3.6 TiB of weights")
    assert not (tmp_path / "runs").exists()


def test_the_limit_is_a_flag_or_a_variable_and_a_bad_one_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = str(tmp_path / "out.onnx")
    monkeypatch.setenv("LAYER_STUDIO_MAX_WEIGHTS_GIB", "16")  # recorded, so what the flag sets is undone after the test
    code = main(["export", str(MLP), "--to", "onnx", "-o", out, "--max-weights-gib", "0.00001"])
    refused_in_one_line(code, capsys.readouterr().err, "the network needs 18 KiB of weights (4,482 parameters); the limit is 10 KiB")
    monkeypatch.setenv("LAYER_STUDIO_MAX_WEIGHTS_GIB", "lots")
    code = main(["export", str(MLP), "--to", "onnx", "-o", out])
    refused_in_one_line(code, capsys.readouterr().err, "LAYER_STUDIO_MAX_WEIGHTS_GIB='lots' is not a size: give a positive number of GiB")
    assert main(["export", str(MLP), "--to", "onnx", "-o", out, "--max-weights-gib", "1"]) == 0  # the flag wins over the variable
    with pytest.raises(SystemExit) as exited:
        main(["export", str(MLP), "--to", "onnx", "-o", out, "--max-weights-gib", "-1"])
    assert exited.value.code == 2 and "--max-weights-gib: '-1' is not a size" in capsys.readouterr().err


def test_train_resume_from_a_crafted_checkpoint_exits_2_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    last = tmp_path / "last.pt"
    torch.save({"kind": "layer-studio-checkpoint", "version": 1, "epoch": -7, "model": {}}, last)
    code = main(["train", str(MLP), "--epochs", "1", "--resume", str(last), "--out", str(tmp_path / "runs")])
    refused_in_one_line(code, capsys.readouterr().err, "last.pt", "epoch is -7: the epochs done are a whole number, 0 or more")
