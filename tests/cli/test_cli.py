"""The `layer-studio` command: catalogue listing, project checks, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.lstudio"))
DEFAULT_EXAMPLE = ROOT / "assets" / "examples" / "digits_cnn.lstudio"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_layers_json_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "layers", "--json")
    assert code == 0
    entries = json.loads(out)
    assert len(entries) >= 50
    required = {
        "Input",
        "Linear",
        "Conv2d",
        "MaxPool2d",
        "BatchNorm2d",
        "ReLU",
        "Dropout",
        "Flatten",
        "Concat",
        "Add",
        "LSTM",
        "MultiheadAttention",
        "LayerNorm",
        "Embedding",
        "ConvTranspose2d",
        "Softmax",
        "Output",
    }
    assert required <= {e["type"] for e in entries}
    for entry in entries:
        assert entry["doc"] and entry["category"]
        assert set(entry["targets"]) == set(entry["mapping"]) == {"pytorch", "keras", "onnx", "caffe", "litert"}
        for target, verdict in entry["targets"].items():
            assert verdict is True or (
                isinstance(verdict, str) and len(verdict) > 10
            ), (entry["type"], target)
        for param in entry["params"]:
            assert param["kind"] in {"int", "float", "bool", "choice", "tuple", "floats"}
            assert param["help"], (entry["type"], param["name"])


def test_layers_text_groups_by_category(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "layers")
    assert code == 0
    assert "Convolution\n" in out and "  Conv2d" in out


def test_there_are_enough_examples() -> None:
    names = {p.stem for p in EXAMPLES}
    assert len(names) >= 6
    assert {
        "digits_cnn",
        "lenet5",
        "mlp",
        "resnet_small",
        "inception_block",
        "lstm_classifier",
        "transformer_classifier",
        "conv_autoencoder",
        "se_mobilenet",
        "vit_tiny",
        "gpt_tiny",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_checks_clean(
    capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    code, out, err = run(capsys, "check", str(path), "--json")
    report = json.loads(out)
    assert code == 0, err
    assert report["diagnostics"] == []
    assert report["inputs"] and report["outputs"]
    assert all(n["output_shape"] is not None for n in report["nodes"])
    assert report["total_params"] >= report["trainable_params"] > 0
    assert all(
        shape["shape"][0] is None for shape in report["inputs"] + report["outputs"]
    )


def test_check_prints_a_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(DEFAULT_EXAMPLE))
    assert code == 0
    assert "Layer (type)" in out and "Output shape" in out
    assert "Total params:" in out and "the network is valid" in out


def test_lenet5_has_the_classic_parameter_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(
        capsys, "check", str(ROOT / "assets" / "examples" / "lenet5.lstudio"), "--json"
    )
    assert json.loads(out)["total_params"] == 61_706


def _broken_project(tmp_path: Path) -> Path:
    from studio.graph import Graph
    from studio.graph.project import Project, save_project

    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": [16, 5, 5]})
    fc = graph.add_node("Linear", "fc1", {"out_features": 10})
    out = graph.add_node("Output", "y")
    graph.connect(x.id, "out", fc.id, "in")
    graph.connect(fc.id, "out", out.id, "in")
    path = tmp_path / "broken.lstudio"
    save_project(Project(name="broken", graph=graph), path)
    return path


def test_check_reports_errors_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "check", str(_broken_project(tmp_path)), "--json")
    assert code == 1
    [diag] = json.loads(out)["diagnostics"]
    assert diag["node"] == "fc1" and diag["severity"] == "error"
    assert "gets (N, 16, 5, 5): insert a Flatten before it" in diag["message"]
    assert "fc1" in err


@pytest.mark.parametrize(
    "content",
    [
        None,
        b"",
        b"\x00\xff\x00binary",
        b"{not json",
        b"[]",
        b'{"format_version": 99, "graph": {}}',
    ],
    ids=["missing", "empty", "binary", "not-json", "list", "newer-version"],
)
def test_unreadable_files_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content
) -> None:
    path = tmp_path / "bad.lstudio"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(capsys, "check", str(path))
    assert code == 2
    assert out == ""
    assert "bad.lstudio" in err and "Traceback" not in err


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_files_never_crash_check(tmp_path_factory, capsys, data) -> None:
    """Truncated, retyped or binary project files give exit 1 or 2 and a message, never a traceback."""
    original = DEFAULT_EXAMPLE.read_bytes()
    doc = json.loads(original)
    mutation = data.draw(st.sampled_from(["truncate", "bytes", "replace"]))
    if mutation == "truncate":
        content = original[: data.draw(st.integers(0, len(original) - 1))]
    elif mutation == "bytes":
        content = data.draw(st.binary(max_size=200))
    else:
        value = data.draw(
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers(-(2**70), 2**70)
                | st.floats()
                | st.text(max_size=20),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=8,
            )
        )
        node_ids = sorted(doc["graph"]["nodes"])
        node = doc["graph"]["nodes"][data.draw(st.sampled_from(node_ids))]
        target = data.draw(
            st.sampled_from(
                ["type", "name", "params", "position", "graph", "edges", "training"]
            )
        )
        if target in ("graph", "training"):
            doc[target] = value
        elif target == "edges":
            doc["graph"]["edges"] = value
        elif target == "params" and isinstance(node["params"], dict) and node["params"]:
            node["params"][data.draw(st.sampled_from(sorted(node["params"])))] = value
        else:
            node[target] = value
        content = json.dumps(doc).encode()
    path = tmp_path_factory.mktemp("fuzz") / "fuzzed.lstudio"
    path.write_bytes(content)
    code = main(["check", str(path), "--json"])
    _, err = capsys.readouterr()
    assert code in (0, 1, 2)
    if code == 2:
        assert "fuzzed.lstudio" in err
    assert "Traceback" not in err
    assert path.read_bytes() == content


def test_console_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "studio", "check", str(DEFAULT_EXAMPLE)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "digits_cnn" in result.stdout


def test_without_a_display_the_editor_says_so_in_one_line() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    for args in ([], [str(DEFAULT_EXAMPLE)]):
        result = subprocess.run(
            [sys.executable, "-m", "studio", *args],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert (
            len(lines) == 1
            and "no display" in lines[0]
            and "layer-studio check" in lines[0]
        ), result.stderr


def test_the_editor_entry_knows_every_command() -> None:
    from studio.cli import COMMANDS, _parser

    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert set(COMMANDS) == set(sub.choices)


def test_export_writes_the_onnx_opset_asked_for(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "net.onnx"
    code, _, _ = run(capsys, "export", str(ROOT / "assets" / "examples" / "resnet_small.lstudio"), "--to", "onnx", "-o", str(out), "--opset", "13")
    assert code == 0 and [o.version for o in onnx.load(out).opset_import if o.domain in ("", "ai.onnx")] == [13]
    with pytest.raises(SystemExit) as refused:
        run(capsys, "export", str(ROOT / "assets" / "examples" / "mlp.lstudio"), "--to", "onnx", "-o", str(tmp_path / "m.onnx"), "--opset", "12")
    assert refused.value.code == 2 and "--opset: invalid choice: 12 (choose from 13, 14," in capsys.readouterr().err
    code, _, err = run(capsys, "export", str(ROOT / "assets" / "examples" / "mlp.lstudio"), "--to", "pytorch", "-o", str(tmp_path / "m.py"), "--opset", "20")
    assert code == 2 and "--opset applies to --to onnx" in err and not (tmp_path / "m.py").exists()
