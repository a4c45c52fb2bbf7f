"""The training script: standalone, trains from an .npz, checkpoints, resumes, runs under torchrun."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.cli import main
from studio.codegen.names import CodegenError
from studio.codegen.script import generate_script, recipe_source
from studio.graph import Graph
from studio.graph.project import LOSSES, Project, TrainingSettings, load_project
from studio.train import recipe
from studio.train.datasets import load_dataset
from tests.codegen.cases import EXAMPLES, ROOT, hostile_project

TIMEOUT = 120
ALLOWED_IMPORTS = {"__future__", "argparse", "collections", "contextlib", "math", "os", "sys", "time", "warnings", "numpy", "torch"}


def write_script(tmp_path: Path, example: str) -> Path:
    path = tmp_path / "train.py"
    path.write_text(generate_script(load_project(ROOT / "assets" / "examples" / f"{example}.lstudio")), encoding="utf-8")
    return path


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    return done


def imports(source: str) -> set[str]:
    tree = ast.parse(source)
    found = {alias.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    return found | {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_script_compiles_without_studio(path: Path) -> None:
    source = generate_script(load_project(path))
    compile(source, "train.py", "exec")
    assert imports(source) <= ALLOWED_IMPORTS


def test_help_documents_the_data_format(tmp_path: Path) -> None:
    done = run([str(write_script(tmp_path, "mlp")), "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    for words in ("--data", "--epochs", "--batch-size", "--lr", "--resume", "--synthetic", '"x"', '"y"', "smoke test"):
        assert words in done.stdout, words


def tiny_npz(path: Path, x_shape: tuple[int, ...], classes: int, samples: int = 24) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.standard_normal((samples, *x_shape)).astype(np.float32), y=rng.integers(0, classes, samples))
    return path


@pytest.mark.parametrize(("example", "x_shape", "classes"), [("digits_cnn", (1, 8, 8), 10), ("mlp", (2,), 2)])
def test_trains_checkpoints_and_resumes(tmp_path: Path, example: str, x_shape: tuple[int, ...], classes: int) -> None:
    script = write_script(tmp_path, example)
    data = tiny_npz(tmp_path / "data.npz", x_shape, classes)
    done = run([str(script), "--data", str(data), "--epochs", "1", "--batch-size", "8", "--out", "ck"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "epoch 1/1" in done.stdout and "val_loss" in done.stdout and "rank 0 of 1 finished" in done.stdout
    last = torch.load(tmp_path / "ck" / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "ck" / "best.pt", weights_only=True)
    assert last["epoch"] == 0 and set(best) == set(last["model"])
    before = {k: v.clone() for k, v in last["model"].items()}
    again = run([str(script), "--data", str(data), "--epochs", "2", "--lr", "0.01", "--out", "ck", "--resume", "ck/last.pt"], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed" in again.stdout and "epoch 2/2" in again.stdout and "epoch 1/2" not in again.stdout
    resumed = torch.load(tmp_path / "ck" / "last.pt", weights_only=True)
    assert resumed["epoch"] == 1
    assert any(not torch.equal(before[k], resumed["model"][k]) for k in before), "the resumed run did not train"


def test_a_real_dataset_without_data_asks_for_it(tmp_path: Path) -> None:
    done = run([str(write_script(tmp_path, "digits_cnn")), "--epochs", "1"], tmp_path)
    assert done.returncode != 0 and "pass --data" in done.stderr


def test_bad_npz_is_a_message(tmp_path: Path) -> None:
    data = tiny_npz(tmp_path / "data.npz", (3,), 2)
    done = run([str(write_script(tmp_path, "mlp")), "--data", str(data), "--epochs", "1"], tmp_path)
    assert done.returncode != 0 and "the model takes (2,)" in done.stderr and "Traceback" not in done.stderr


# One example of each kind the distributed loop treats differently: real data (mlp), images, a sequence classifier,
# a language model, and a network of blocks with embeddings. Two processes cost ~15 s an example, so the others'
# scripts train in one process (the test after this one).
DISTRIBUTED = ("mlp", "digits_cnn", "lstm_classifier", "gpt_tiny", "bert_mini_blocks")


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.stem in DISTRIBUTED], ids=lambda p: p.stem)
def test_torchrun_two_processes_on_the_cpu(tmp_path: Path, path: Path) -> None:
    """An example trains one epoch data-parallel (gloo): real data for mlp, a smoke set otherwise."""
    script = write_script(tmp_path, path.stem)
    if path.stem == "mlp":
        data = ["--data", str(tiny_npz(tmp_path / "data.npz", (2,), 2, samples=32))]
    else:
        data = ["--synthetic", "32"]
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
            *data, "--epochs", "1", "--batch-size", "4", "--out", "ck"]  # fmt: skip
    done = run(args, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rank 0 of 2 finished" in done.stdout and "rank 1 of 2 finished" in done.stdout
    assert done.stdout.count("epoch 1/1") == 1, "only rank 0 logs"
    assert (tmp_path / "ck" / "last.pt").exists() and (tmp_path / "ck" / "best.pt").exists()
    assert not list((tmp_path / "ck").glob("*.partial"))


@pytest.mark.parametrize("path", [p for p in EXAMPLES if p.stem not in DISTRIBUTED], ids=lambda p: p.stem)
def test_the_script_trains_an_epoch_in_one_process(tmp_path: Path, path: Path) -> None:
    script = write_script(tmp_path, path.stem)
    done = run([str(script), "--synthetic", "16", "--epochs", "1", "--batch-size", "4", "--out", "ck"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "epoch 1/1" in done.stdout and (tmp_path / "ck" / "last.pt").exists()


def test_hostile_names_and_dataset_cannot_inject_code() -> None:
    project = hostile_project()
    project.training = TrainingSettings(dataset='x"""\nimport os\n"""')
    source = generate_script(project)
    assert imports(source) <= ALLOWED_IMPORTS
    tree = ast.parse(source)
    dataset = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "DATASET"]
    assert ast.literal_eval(dataset[0].value) == project.training.dataset
    assert "system" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def test_a_graph_with_errors_is_refused() -> None:
    graph = Graph()
    graph.add_node("Input", "x", {"shape": (3,)})
    with pytest.raises(CodegenError):
        generate_script(Project(name="broken", graph=graph))


def test_init_weights_exports_the_weights_the_script_starts_from(tmp_path: Path) -> None:
    from studio.codegen.export import export_project

    project = load_project(ROOT / "assets" / "examples" / "mlp.lstudio")
    project.training = replace(project.training, init="weights")
    result = export_project(project, "script", tmp_path / "train.py", seed=3)
    assert [p.name for p in result.files] == ["train.py", "train.pt", "train_data.npz"]
    helped = run(["train.py", "--help"], tmp_path)
    assert "default: train.pt" in " ".join(helped.stdout.split()), helped.stdout
    data = tiny_npz(tmp_path / "data.npz", (2,), 2)
    elsewhere = tmp_path / "elsewhere"  # the default is found beside the script, wherever it runs
    elsewhere.mkdir()
    script = str(tmp_path / "train.py")
    done = run([script, "--data", str(data), "--epochs", "1", "--lr", "1e-10", "--out", "ck"], elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    start = torch.load(tmp_path / "train.pt", weights_only=True)
    trained = torch.load(elsewhere / "ck" / "last.pt", weights_only=True)["model"]
    assert all(torch.allclose(start[k], trained[k], atol=1e-6) for k in start)


def test_the_script_embeds_the_trainers_recipe_verbatim() -> None:
    source = generate_script(load_project(ROOT / "assets" / "examples" / "mlp.lstudio"))
    for module in ("samples", "recipe"):
        text = (ROOT / "studio" / "train" / f"{module}.py").read_text(encoding="utf-8")
        docstring, body = text.split("from __future__ import annotations\n")
        assert recipe_source(module) in source and docstring.strip() in source and body.strip() in source


def test_every_loss_the_project_offers_is_in_the_recipe() -> None:
    assert set(LOSSES) == set(recipe.LOSSES)


# ----- the exported script runs as exported, on the project's own data -----


def export_digits(folder: Path) -> subprocess.CompletedProcess[str]:
    project = ROOT / "assets" / "examples" / "digits_cnn.lstudio"
    return run(["-m", "studio.cli", "export", str(project), "--to", "script", "-o", str(folder / "train.py")], ROOT)


def test_export_writes_the_built_in_data_beside_the_script(tmp_path: Path) -> None:
    done = export_digits(tmp_path)
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    digits = load_dataset("digits", input_shape=(1, 8, 8))
    with np.load(tmp_path / "train_data.npz") as data:
        assert np.array_equal(data["x"], digits.x) and np.array_equal(data["y"], digits.y)  # raw, not normalized
    trained = run(["train.py", "--epochs", "1", "--out", "ck"], tmp_path)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "1617 training samples, 180 held out" in trained.stdout and "val_acc" in trained.stdout
    assert (tmp_path / "ck" / "best.pt").exists()


def test_torchrun_runs_the_exported_script_as_exported(tmp_path: Path) -> None:
    assert export_digits(tmp_path).returncode == 0
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py", "--epochs", "1", "--out", "ck"]
    done = run(args, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rank 0 of 2 finished" in done.stdout and "rank 1 of 2 finished" in done.stdout
    assert done.stdout.count("epoch 1/1") == 1 and (tmp_path / "ck" / "last.pt").exists()


def test_a_file_dataset_is_exported_raw_and_data_overrides_it(tmp_path: Path) -> None:
    from studio.codegen.export import export_project

    rng = np.random.default_rng(1)
    x, y = (rng.standard_normal((40, 2)) * 5 + 3).astype(np.float32), rng.integers(0, 2, 40)
    np.savez(tmp_path / "points.npz", x=x, y=y)
    project = load_project(ROOT / "assets" / "examples" / "mlp.lstudio")
    project.training = replace(project.training, dataset="points.npz")
    out = tmp_path / "out"
    out.mkdir()
    result = export_project(project, "script", out / "train.py", project_path=tmp_path / "points.lstudio")
    assert out / "train_data.npz" in result.files and not result.warnings
    with np.load(out / "train_data.npz") as data:
        assert np.array_equal(data["x"], x) and np.array_equal(data["y"], y)
    other = tiny_npz(tmp_path / "other.npz", (2,), 2, samples=30)
    done = run([str(out / "train.py"), "--data", str(other), "--epochs", "1", "--out", "ck"], tmp_path)
    assert done.returncode == 0 and "27 training samples, 3 held out" in done.stdout, done.stdout + done.stderr


def test_data_over_the_limit_is_left_out_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from studio.codegen import export

    monkeypatch.setattr(export, "MAX_SCRIPT_DATA_BYTES", 2**18)  # the digits take 0.45 MiB
    project = ROOT / "assets" / "examples" / "digits_cnn.lstudio"
    assert main(["export", str(project), "--to", "script", "-o", str(tmp_path / "train.py")]) == 0
    captured = capsys.readouterr()
    assert (tmp_path / "train.py").exists() and not (tmp_path / "train_data.npz").exists()
    warning = captured.err.strip()
    assert len(warning.splitlines()) == 1 and "train_data.npz was not written" in warning
    assert "takes 0.452 MiB, more than the limit of 0.25 MiB" in warning and "--data" in warning, warning


def test_data_that_cannot_be_loaded_is_left_out_with_a_warning(tmp_path: Path) -> None:
    from studio.codegen.export import export_project

    project = load_project(ROOT / "assets" / "examples" / "mlp.lstudio")
    project.training = replace(project.training, dataset="missing.npz")
    result = export_project(project, "script", tmp_path / "train.py", project_path=tmp_path / "p.lstudio")
    assert [p.name for p in result.files] == ["train.py"]
    assert len(result.warnings) == 1 and "missing.npz" in result.warnings[0] and "--data" in result.warnings[0]
