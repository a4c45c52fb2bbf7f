"""`layer-studio export/import` show their steps on a terminal only, and Ctrl-C stops them leaving no file."""

from __future__ import annotations

import io
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from studio import cli_progress
from studio.cli import main
from studio.codegen import export as export_module
from studio.graph import atomic
from tests.interop import onnx_models as om

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "assets" / "examples" / "digits_cnn.lstudio"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_an_export_on_a_terminal_shows_its_steps_and_erases_the_line(monkeypatch, capsys, tmp_path: Path) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    out = tmp_path / "model.py"
    assert main(["export", str(DIGITS), "--to", "pytorch", "-o", str(out)]) == 0
    shown = terminal.getvalue()
    steps = ["generating the pytorch code", "building the model", "writing model.py, model.pt"]
    assert all(f"layer-studio: {step}… " in shown for step in steps), shown
    assert shown.index(steps[0]) < shown.index(steps[1]) < shown.index(steps[2])
    assert shown.endswith(cli_progress.ERASE)  # what follows starts on a clean line
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".pt").is_file()


def test_piped_output_gets_no_progress_line(capsys, tmp_path: Path) -> None:
    assert main(["export", str(DIGITS), "--to", "pytorch", "-o", str(tmp_path / "model.py")]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "building the model" not in captured.err
    assert captured.err == ""


def test_an_import_on_a_terminal_shows_its_steps(monkeypatch, tmp_path: Path) -> None:
    source = om.save(om.padded_convolutions(), tmp_path / "convs.onnx")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["import", str(source), "-o", str(tmp_path / "p.lstudio")]) == 0
    shown = terminal.getvalue()
    assert "layer-studio: reading convs.onnx… " in shown and "layer-studio: writing p.lstudio… " in shown
    assert shown.endswith(cli_progress.ERASE)


def on_a_terminal(*args: str) -> tuple[subprocess.Popen, int]:
    """`layer-studio ARGS` in a child process whose stderr is a pseudo-terminal; the process and the terminal's end to read."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    os.close(follower)
    return process, leader


def read_until(leader: int, wanted: bytes = b"") -> bytes:
    """What the terminal shows, until `wanted` appears (or, without it, until the child closes its end)."""
    shown = b""
    while not wanted or wanted not in shown:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    return shown


def test_the_line_reaches_a_real_terminal(tmp_path: Path) -> None:
    """The line is drawn on a real (pseudo-)terminal, and erased before the command ends."""
    out = tmp_path / "digits.prototxt"
    process, leader = on_a_terminal("export", str(DIGITS), "--to", "caffe", "-o", str(out))
    stdout, _ = process.communicate(timeout=120)
    shown = read_until(leader)
    os.close(leader)
    assert process.returncode == 0, shown
    assert b"layer-studio: generating the caffe code\xe2\x80\xa6" in shown and shown.endswith(cli_progress.ERASE.encode())
    assert f"wrote {out}".encode() in stdout


def test_a_real_ctrl_c_stops_an_export_with_130_and_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    process, leader = on_a_terminal("export", str(DIGITS), "--to", "onnx", "-o", str(out / "digits.onnx"))
    read_until(leader, b"building the model")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    shown = read_until(leader)
    os.close(leader)
    assert process.returncode == 130, shown
    assert shown.endswith(cli_progress.ERASE.encode() + b"layer-studio: interrupted\r\n")
    assert list(out.iterdir()) == []


def interrupt_second_write(monkeypatch) -> list:
    """Let the first file of a write be staged whole and Ctrl-C the second; returns the targets it was asked to stage."""
    real = atomic._stage
    calls = []

    def second_interrupted(target, data):
        calls.append(target)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(target, data)

    monkeypatch.setattr(atomic, "_stage", second_interrupted)
    return calls


@pytest.mark.parametrize("where", ["building", "writing"])
def test_ctrl_c_stops_an_export_with_130_and_no_file(monkeypatch, capsys, tmp_path: Path, where: str) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "building":
        monkeypatch.setattr(export_module, "build_torch_model", interrupt)
    else:  # the weights are written, then Ctrl-C comes before the code
        interrupt_second_write(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["export", str(DIGITS), "--to", "pytorch", "-o", str(out / "model.py")]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_ctrl_c_while_an_import_writes_leaves_no_project_without_weights(monkeypatch, capsys, tmp_path: Path) -> None:
    source = om.save(om.padded_convolutions(), tmp_path / "convs.onnx")
    calls = interrupt_second_write(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["import", str(source), "-o", str(out / "p.lstudio")]) == 130
    assert len(calls) == 2 and list(out.iterdir()) == []
