"""An export writes its files all or none: a target that is not a regular file is refused, and a failed file leaves its companions as they were."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.codegen import export as export_module
from studio.codegen.export import ExportWriteError, export_project
from studio.graph import Graph, atomic
from studio.graph.project import Project

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs and process ids as POSIX has them")


def tiny() -> Project:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": [4]})
    fc = graph.add_node("Linear", "fc", {"out_features": 2})
    y = graph.add_node("Output", "y")
    graph.connect(x.id, "out", fc.id, "in")
    graph.connect(fc.id, "out", y.id, "in")
    return Project(name="tiny", graph=graph)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_py_that_cannot_be_written_leaves_the_pt_beside_it_unchanged(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "model.py"
    export_project(tiny(), "pytorch", out)
    before = {name: (tmp_path / name).read_bytes() for name in ("model.py", "model.pt")}
    real = atomic._write_all

    def full_for_the_code(fd, data):
        if not data.startswith(b"PK"):  # the code, not the state dict (a zip)
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(atomic, "_write_all", full_for_the_code)
    with pytest.raises(ExportWriteError) as caught:
        export_project(tiny(), "pytorch", out, seed=1)  # other weights: the .pt would change
    assert str(caught.value) == f"{out}: cannot be written: the disk is full"
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert listing(tmp_path) == ["model.pt", "model.py"]  # no temporary left behind


def test_a_py_target_that_is_a_folder_is_refused_before_the_work(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "model.py").mkdir()
    (tmp_path / "model.pt").write_bytes(b"someone's weights")

    def never(*args, **kwargs):
        raise AssertionError("the model was built for a target that cannot be written")

    monkeypatch.setattr(export_module, "build_torch_model", never)
    with pytest.raises(ExportWriteError) as caught:
        export_project(tiny(), "pytorch", tmp_path / "model.py")
    assert str(caught.value) == f"{tmp_path / 'model.py'}: cannot be written: is a folder, not a file"
    assert (tmp_path / "model.pt").read_bytes() == b"someone's weights" and listing(tmp_path) == ["model.pt", "model.py"]


@posix_only
def test_a_companion_that_is_a_fifo_is_refused_and_the_code_left_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    out.write_bytes(b"old code")
    os.mkfifo(tmp_path / "model.pt")
    with pytest.raises(ExportWriteError, match=r"model\.pt: cannot be written: is a FIFO \(named pipe\), not a file$"):
        export_project(tiny(), "pytorch", out)
    assert out.read_bytes() == b"old code" and (tmp_path / "model.pt").is_fifo()
    assert listing(tmp_path) == ["model.pt", "model.py"]


@posix_only
def test_a_caffe_export_refuses_a_caffemodel_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "net.caffemodel").mkdir()
    with pytest.raises(ExportWriteError, match=r"net\.caffemodel: cannot be written: is a folder, not a file$"):
        export_project(tiny(), "caffe", tmp_path / "net.prototxt")
    assert listing(tmp_path) == ["net.caffemodel"]


@posix_only
def test_a_stale_temporary_of_a_killed_export_is_removed_by_the_next(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = tmp_path / f".model.pt.layer-studio.{atomic._HOST}.{child.pid}.0123abcd.tmp"
    stale.write_bytes(b"half of a state dict")
    result = export_project(tiny(), "pytorch", tmp_path / "model.py")
    assert listing(tmp_path) == ["model.pt", "model.py"] and len(result.files) == 2
