"""A network deeper than Keras's recursive model walk can follow is refused in one line, not a RecursionError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.cli import main

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "assets" / "examples" / "lenet5.lstudio"


def test_a_network_too_deep_for_keras_gets_one_line_and_no_files(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def too_deep(*_args: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")  # what Keras raises past about 600 layers in a row

    monkeypatch.setattr("studio.codegen.keras.write_keras_weights", too_deep)
    out = tmp_path / "m.py"
    code = main(["export", str(LENET), "--to", "keras", "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "Keras cannot build this network" in err and "export to PyTorch or ONNX" in err
    assert list(tmp_path.iterdir()) == []
