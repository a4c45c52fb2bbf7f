"""Files that are not files: a FIFO, a device or a folder given to any command exits 2 with one line, at once, and is left as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from studio.cli import main
from tests.hang_guard import fails_instead_of_hanging
from tests.interop import onnx_models as om

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "assets" / "examples" / "lenet5.lstudio"
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="FIFOs and /dev are POSIX")


@pytest.fixture(autouse=True)
def no_hang():
    """A command that waits on a FIFO fails its test in 60 s instead of hanging the suite."""
    with fails_instead_of_hanging(60, "the command blocked on a file that is not a file"):
        yield


def refused(capsys, *args: str, notices: int = 0) -> str:
    """Run the command; it must exit 2 with one line on stderr (after `notices` lines it always says) and no traceback. Returns that line."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 + notices, err
    return err.strip().splitlines()[-1]


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_check_and_export_refuse_a_project_that_is_a_fifo(capsys, tmp_path: Path) -> None:
    project = fifo(tmp_path / "p.lstudio")
    assert refused(capsys, "check", str(project)) == f"layer-studio: {project}: is a FIFO (named pipe), not a project file"
    assert "is a FIFO" in refused(capsys, "export", str(project), "--to", "pytorch", "-o", str(tmp_path / "m.py"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.lstudio"]


def test_export_refuses_weights_that_are_a_fifo_or_a_device(capsys, tmp_path: Path) -> None:
    weights = fifo(tmp_path / "w.pt")
    out = tmp_path / "m.py"
    assert refused(capsys, "export", str(LENET), "--to", "pytorch", "-o", str(out), "--weights", str(weights)).endswith("w.pt: is a FIFO (named pipe), not a file")
    zero = tmp_path / "z.npz"
    zero.symlink_to("/dev/zero")
    assert refused(capsys, "export", str(LENET), "--to", "onnx", "-o", str(tmp_path / "m.onnx"), "--weights", str(zero)).endswith("z.npz: is a character device (/dev/zero), not a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt", "z.npz"]


def test_export_refuses_a_project_whose_training_weights_are_a_fifo(capsys, tmp_path: Path) -> None:
    data = json.loads(LENET.read_text(encoding="utf-8"))
    data["training"]["weights"] = "lenet.weights.npz"
    project = tmp_path / "lenet.lstudio"
    project.write_text(json.dumps(data), encoding="utf-8")
    fifo(tmp_path / "lenet.weights.npz")
    assert "lenet.weights.npz: is a FIFO (named pipe), not a file" in refused(capsys, "export", str(project), "--to", "pytorch", "-o", str(tmp_path / "m.py"))
    assert not (tmp_path / "m.py").exists() and not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("target", ["fifo", "device link", "folder"])
def test_export_onto_a_target_that_is_not_a_file_leaves_it_as_it_was(capsys, tmp_path: Path, target: str) -> None:
    out = tmp_path / "m.onnx"
    if target == "fifo":
        fifo(out)
        reason = "is a FIFO (named pipe), not a file"
    elif target == "device link":
        out.symlink_to("/dev/full")
        reason = "is a character device (/dev/full), not a file"
    else:
        out.mkdir()
        reason = "is a folder, not a file"
    assert refused(capsys, "export", str(LENET), "--to", "onnx", "-o", str(out)) == f"layer-studio: {out}: cannot be written: {reason}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    assert {"fifo": out.is_fifo, "device link": lambda: os.readlink(out) == "/dev/full", "folder": out.is_dir}[target]()


def test_import_refuses_models_that_are_not_files(capsys, tmp_path: Path) -> None:
    onnx_fifo = fifo(tmp_path / "m.onnx")
    assert refused(capsys, "import", str(onnx_fifo), "-o", str(tmp_path / "a.lstudio")).endswith("m.onnx: is a FIFO (named pipe), not a file")
    prototxt_fifo = fifo(tmp_path / "n.prototxt")
    assert refused(capsys, "import", str(prototxt_fifo), "-o", str(tmp_path / "b.lstudio")).endswith("n.prototxt: is a FIFO (named pipe), not a file")
    zero = tmp_path / "z.prototxt"
    zero.symlink_to("/dev/zero")
    assert refused(capsys, "import", str(zero), "-o", str(tmp_path / "c.lstudio")).endswith("z.prototxt: is a character device (/dev/zero), not a file")
    code = fifo(tmp_path / "net.py")
    assert refused(capsys, "import", f"{code}:Net", "-o", str(tmp_path / "d.lstudio"), notices=1).endswith("net.py: is a FIFO (named pipe), not a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "n.prototxt", "net.py", "z.prototxt"]


def test_import_refuses_external_data_that_is_a_fifo(capsys, tmp_path: Path) -> None:
    source = om.save(om.padded_convolutions(), tmp_path / "convs.onnx")
    import onnx
    from onnx.external_data_helper import convert_model_to_external_data

    model = onnx.load(str(source))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="convs.data", size_threshold=0)
    onnx.save(model, str(source))
    (tmp_path / "convs.data").unlink()
    fifo(tmp_path / "convs.data")
    line = refused(capsys, "import", str(source), "-o", str(tmp_path / "p.lstudio"))
    assert "convs.data" in line and not (tmp_path / "p.lstudio").exists()


def test_import_onto_a_project_that_is_a_fifo_leaves_it_and_writes_no_weights(capsys, tmp_path: Path) -> None:
    source = om.save(om.padded_convolutions(), tmp_path / "convs.onnx")
    out = fifo(tmp_path / "p.lstudio")
    assert refused(capsys, "import", str(source), "-o", str(out)) == f"layer-studio: {out}: cannot be written: is a FIFO (named pipe), not a file"
    assert out.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["convs.onnx", "p.lstudio"]
