"""What checking a weights file first costs: `load_weights` against reading the whole file as before, in the same run.

For a chain of Linear layers holding about `--mib` MiB of float32 weights, it prints the best
time of loading an `.npz` and a `.pt` into the generated model through `load_weights` (headers
listed and checked, only the tensors that fit read; a `.pt` mapped, not read) against the
baseline the earlier reader took (`np.load` of every array, or `torch.load` of the whole file,
then `load_state_dict`), and what the weights limit's check of the network (one shape analysis)
costs against generating the model's code.

Run: .venv/bin/python benchmarks/weights_reading.py [--mib 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch

from studio.codegen.export import (
    build_torch_model,
    check_network_size,
    load_weights,
    save_npz_weights,
)
from studio.codegen.pytorch import generate_pytorch
from studio.graph.model import Graph
from studio.graph.project import Project


def chain(mib: int, layers: int = 8) -> Project:
    """Input, then `layers` square Linear layers of together about `mib` MiB, then Output."""
    width = int((mib * 2**20 / 4 / layers) ** 0.5)
    g = Graph()
    nodes = [g.add_node("Input", "x", {"shape": (width,)})]
    nodes += [g.add_node("Linear", f"fc{i}", {"out_features": width}) for i in range(layers)]
    nodes.append(g.add_node("Output", "y"))
    for a, b in itertools.pairwise(nodes):
        g.connect(a.id, "out", b.id, "in")
    return Project("chain", g)


def best(fn, repeats: int) -> float:
    """The best wall time of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def npz_before(model: torch.nn.Module, path: Path) -> None:
    """The earlier reader: every array of the archive copied out, then loaded."""
    with np.load(path, allow_pickle=False) as archive:
        state = {key: torch.from_numpy(np.array(archive[key])) for key in archive.files}
    model.load_state_dict(state)


def pt_before(model: torch.nn.Module, path: Path) -> None:
    """The earlier reader: the whole file read by torch.load, then loaded."""
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    project = chain(args.mib)
    source = generate_pytorch(project)
    model = build_torch_model(source, 0)
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    print(f"{len(model.state_dict())} tensors, {size / 2**20:.0f} MiB; best of {args.repeats}")
    with tempfile.TemporaryDirectory() as folder:
        npz, pt = Path(folder) / "w.npz", Path(folder) / "w.pt"
        save_npz_weights(model.state_dict(), npz)
        torch.save(model.state_dict(), pt)
        for name, path, before in (("npz", npz, npz_before), ("pt", pt, pt_before)):
            baseline = best(lambda: before(model, path), args.repeats)  # noqa: B023 - called at once
            checked = best(lambda: load_weights(model, path), args.repeats)  # noqa: B023 - called at once
            print(f".{name}: read whole {baseline * 1000:8.1f} ms   load_weights {checked * 1000:8.1f} ms   ratio {checked / baseline:5.2f}")
    generate = best(lambda: generate_pytorch(project), args.repeats)
    check = best(lambda: check_network_size(project), args.repeats)
    print(f"network size check {check * 1000:.2f} ms against generating the code {generate * 1000:.2f} ms: ratio {check / generate:.2f}")


if __name__ == "__main__":
    main()
