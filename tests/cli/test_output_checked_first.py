"""An output that cannot be written is refused before the work that would fill it (an import or an export can take minutes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.cli import main
from studio.graph.atomic import check_target, describe_os_error

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "assets" / "examples" / "lenet5.lstudio"


def _never(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the work began before the output was checked")


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (out, err)
    return err.strip()


def test_an_import_into_a_missing_folder_is_refused_before_the_model_is_read(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("studio.interop.common.import_model", _never)
    source = tmp_path / "m.onnx"
    source.write_bytes(b"not read")
    out = tmp_path / "missing" / "p.lstudio"
    assert refused(capsys, "import", str(source), "-o", str(out)) == f"layer-studio: {out}: cannot be written: the folder '{out.parent}' does not exist"
    assert refused(capsys, "import", str(source), "-o", str(tmp_path / "p.json")).endswith("a project file must end in .lstudio")


def test_an_export_into_a_missing_folder_is_refused_before_any_code_or_weights_are_made(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("studio.codegen.export.Weights", _never)
    out = tmp_path / "missing" / "m.py"
    assert refused(capsys, "export", str(LENET), "--to", "pytorch", "-o", str(out)) == f"layer-studio: {out}: cannot be written: the folder '{out.parent}' does not exist"
    assert not out.parent.exists()


def test_a_target_whose_folder_is_a_file_or_missing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for target, error, reason in (
        (tmp_path / "file" / "m.py", NotADirectoryError, f"{str(tmp_path / 'file')!r} is a file, not a folder"),
        (tmp_path / "missing" / "m.py", FileNotFoundError, f"the folder {str(tmp_path / 'missing')!r} does not exist"),
    ):
        with pytest.raises(error) as raised:
            check_target(target)
        assert raised.value.filename == os.fspath(target) and describe_os_error(raised.value) == reason
    check_target(tmp_path / "new.py")  # a new file in a folder that exists


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in read-only folders")
def test_a_target_in_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            check_target(folder / "m.py")
    finally:
        folder.chmod(0o700)
