"""Data files and checkpoints that are not files (a FIFO, a link to /dev/zero) are refused at once with a DatasetError or a failed resume."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.train.checkpoints import resume_from
from studio.train.datasets import DatasetError, load_dataset
from studio.train.plan import TrainingFailed
from tests.hang_guard import fails_instead_of_hanging

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="FIFOs and /dev are POSIX")


@pytest.fixture(autouse=True)
def no_hang():
    """A reader that waits on a FIFO fails its test in 30 s instead of hanging the suite."""
    with fails_instead_of_hanging(30, "a reader blocked on a file that is not a file"):
        yield


@pytest.mark.parametrize("name", ["data.npz", "data.csv", "story.txt", "train-images-idx3-ubyte", "data_batch_1", "unknown"])
def test_a_data_file_that_is_a_fifo_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    os.mkfifo(path)
    with pytest.raises(DatasetError) as caught:
        load_dataset(str(path), input_shape=(None, 4))
    assert str(caught.value) == f"{path}: is a FIFO (named pipe), not a file"


def test_a_data_file_linked_to_dev_zero_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match=r"is a character device \(/dev/zero\), not a file"):
        load_dataset(str(path), input_shape=(None, 4))


def test_an_image_in_a_class_folder_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from PIL import Image

    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / label / "a.png")
    os.mkfifo(tmp_path / "dogs" / "b.png")
    with pytest.raises(DatasetError, match=r"b\.png: cannot be read as an image \(is a FIFO \(named pipe\), not a file\)"):
        load_dataset(str(tmp_path), input_shape=(None, 3, 4, 4))


def test_the_npz_reader_still_reads_a_real_archive(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.ones((6, 4), dtype=np.float32), y=np.array([0, 1, 0, 1, 0, 1]))
    data = load_dataset(str(path), input_shape=(None, 4))
    assert data.x.shape == (6, 4) and list(data.classes) == ["0", "1"]


def test_resuming_from_a_checkpoint_that_is_a_fifo_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    os.mkfifo(path)
    model = torch.nn.Linear(2, 2)
    with pytest.raises(TrainingFailed) as caught:
        resume_from(path, model, torch.optim.SGD(model.parameters(), lr=0.1), "sgd", None, 3, torch.device("cpu"))
    assert str(caught.value) == f"cannot resume: {path}: is a FIFO (named pipe), not a file"
