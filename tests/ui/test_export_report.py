"""The dialog after an export: the files written, and Verify, which runs the file in a runtime against PyTorch."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from studio.graph.project import load_project
from studio.ui import open_main_window, theme
from studio.ui.export_report import ExportReport
from studio.ui.files import Unsaved
from tests.ui.helpers import EXAMPLES

LENET = EXAMPLES / "lenet5.lstudio"


def test_an_export_opens_its_report_and_verify_shows_the_difference_latency_and_size(qtbot, tmp_path) -> None:
    window = open_main_window(LENET)
    qtbot.addWidget(window)
    window.files.ask_unsaved = lambda: Unsaved.DISCARD
    out = tmp_path / "lenet.onnx"
    try:
        with qtbot.waitSignal(window.files.export_finished, timeout=120_000):
            assert window.files.export("onnx", out)
        report = window.findChild(ExportReport, "exportReport")
        assert report is not None and report.isVisible()
        assert "lenet.onnx" in report.findChildren(QLabel)[0].text()
        runtimes = [report.runtime.itemData(i) for i in range(report.runtime.count())]
        assert runtimes[0] == "onnxruntime" and {"openvino", "opencv"} <= set(runtimes)
        assert not report.backend.isVisible()
        report.runtime.setCurrentIndex(runtimes.index("openvino"))
        report.verify()
        assert report.result is not None and report.result.ok and report.result.runtime == "openvino"
        assert "Matches PyTorch" in report.outcome.text()
        shown = " ".join(label.text() for label in report.findChildren(QLabel))
        assert "relative" in shown and "per sample" in shown and "KiB" in shown
        report.close()
    finally:
        window.files.close()
        theme.use_theme(None)


def test_a_file_the_runtime_cannot_run_is_a_message_in_the_report(qtbot, tmp_path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    report = ExportReport(broken, load_project(LENET), LENET, None)
    qtbot.addWidget(report)
    report.verify()
    assert report.result is None and "Could not verify" in report.outcome.text()
    assert "ONNX Runtime cannot read broken.onnx" in report.error


def test_a_keras_export_offers_the_backends(qtbot, tmp_path) -> None:
    source = tmp_path / "model_keras.py"
    source.write_text("import keras\n\ndef build_model(weights=None):\n    pass\n")
    report = ExportReport(source, load_project(LENET), LENET, None)
    qtbot.addWidget(report)
    report.show()
    assert report.backend.isVisible()
    assert [report.backend.itemData(i) for i in range(report.backend.count())] == ["torch", "jax", "tensorflow"]
