"""Graph to a standalone training script: the generated PyTorch model plus a DDP-ready training loop.

The script imports only torch and numpy (never `studio`) and trains with the project's settings
(epochs, batch size, learning rate and seed overridable on the command line) through the same
code as the trainer: the recipe modules studio/train/samples.py and studio/train/recipe.py are
copied into it verbatim. A language model (an Input of T token ids, an output of T×V scores)
trains on windows of text held out by their place, with the loss at every position, and writes
a sample after each epoch when its data holds the vocabulary. It reads the project's data from `train_data.npz` beside itself (the
export writes it) unless `--data` names another file, writes `last.pt` and `best.pt`
checkpoints, resumes with `--resume`, and runs unchanged under `torchrun --nproc_per_node=N`.
Values from the project are emitted as literals and its name only inside comments, so nothing in
it can inject code.
"""

from __future__ import annotations

import re

from studio.codegen.checks import feeding_outputs
from studio.codegen.names import comment_text
from studio.codegen.pytorch import generate_pytorch
from studio.codegen.script_template import TEMPLATE, recipe_source
from studio.graph.catalogue.literals import literal
from studio.graph.flatten import flatten
from studio.graph.project import Project
from studio.graph.shapes import snapshot_analysis

DATA_FILE = "train_data.npz"


def script_task(project: Project) -> str:
    """"language_modelling" for a network that scores the next of T tokens at each position, else ""."""
    graph = project.graph
    inputs = [n for n in graph.nodes.values() if n.type == "Input"]
    outputs = [node_id for node_id, n in graph.nodes.items() if n.type == "Output"]
    if len(inputs) != 1 or not outputs or project.training.loss != "cross_entropy":
        return ""
    shape, dtype = tuple(inputs[0].params["shape"]), inputs[0].params["dtype"]
    fed = snapshot_analysis(graph).result(outputs[0]).inputs[0]
    if dtype != "int64" or len(shape) != 1 or fed is None or len(fed) != 3 or fed[1] != shape[0]:
        return ""
    return "language_modelling"


def _vocabulary(project: Project) -> int:
    sizes = [n.params["num_embeddings"] for n in flatten(project.graph).nodes.values() if n.type == "Embedding"]
    return min(sizes, default=2)


def generate_script(project: Project, init_weights: str | None = None) -> str:
    """Return a standalone training script for `project`; CodegenError if its graph has errors.

    `init_weights` names a state dict file beside the script that training starts from by default.
    """
    model = generate_pytorch(project).split("\n\n", 1)[1].strip()  # without the module docstring
    model = model.replace("import torch\nfrom torch import nn\n", "").strip()
    model = model.replace("import math\n\n", "").strip()
    graph = project.graph
    analysis = snapshot_analysis(graph)
    inputs = tuple((tuple(n.params["shape"]), n.params["dtype"]) for n in graph.nodes.values() if n.type == "Input")
    outputs = [node_id for node_id, n in graph.nodes.items() if n.type == "Output"]
    first = analysis.result(outputs[0]).inputs[0]
    assert first is not None
    live = feeding_outputs(graph)
    unused = any(analysis.result(node_id).params for node_id in graph.nodes if node_id not in live)
    settings = project.training.to_dict()
    settings.pop("dataset")
    values = {
        "__PROJECT__": comment_text(project.name, 80),
        "__SETTINGS__": "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in settings.items()) + "}",
        "__DATASET__": literal(project.training.dataset),
        "__DATAFILE__": literal(DATA_FILE),
        "__SAMPLES__": recipe_source("samples"),
        "__RECIPE__": recipe_source("recipe"),
        "__INPUTS__": literal(inputs),
        "__OUTPUT__": literal(tuple(int(d) for d in first[1:])),
        "__VOCABULARY__": literal(_vocabulary(project)),
        "__TASK__": literal(script_task(project)),
        "__UNUSED__": literal(unused),
        "__INIT__": literal(init_weights),
        "__MODEL__": model,
    }
    return re.sub(r"__[A-Z]+__", lambda m: values.get(m.group(0), m.group(0)), TEMPLATE)  # one pass: nothing re-expands
