"""A tiny causal language model and a short text for it, shared by the tests of language modelling."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.graph import Graph
from studio.graph.project import Project, TrainingSettings, save_project

WORDS = ("the", "cat", "dog", "sat", "ran", "on", "mat", "log", "a", "and", "hat", "big")
LENGTH = 16
WIDTH = 16


def story(characters: int = 4000, seed: int = 0) -> str:
    """Seeded sentences of a few short words: a text a tiny model learns in a few epochs."""
    rng = np.random.default_rng(seed)
    sentences = []
    while sum(len(s) for s in sentences) < characters:
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(3, 7))]
        sentences.append(" ".join(words).capitalize() + ". ")
    return "".join(sentences)


def tiny_language_model(vocabulary: int, length: int = LENGTH, width: int = WIDTH, **training: Any) -> Project:
    """Tokens, an Embedding and learned positions, one causal transformer block, scores of every character."""
    graph = Graph()

    def add(kind: str, name: str, *inputs: str, **params: Any) -> None:
        node = graph.add_node(kind, name, params)
        for port, source in zip(node.spec.input_ports(node.params), inputs, strict=True):
            graph.connect(graph.node_by_name(source).id, "out", node.id, port.name)

    add("Input", "tokens", shape=[length], dtype="int64")
    add("Embedding", "embed", "tokens", num_embeddings=vocabulary, embedding_dim=width)
    add("Parameter", "positions", shape=[length, width])
    add("Add", "embedded", "embed", "positions")
    add("TransformerEncoderLayer", "block", "embedded", nhead=2, dim_feedforward=2 * width, dropout=0.0, norm_first=True, causal=True)
    add("Linear", "next_char", "block", out_features=vocabulary)
    add("Output", "scores", "next_char")
    settings = {"epochs": 2, "batch_size": 16, "learning_rate": 0.01, "validation_split": 0.2, "device": "cpu", **training}
    return Project("tiny_lm", graph, replace(TrainingSettings(), **settings))


def project_with_story(folder: Path, **training: Any) -> tuple[Path, Project, str]:
    """The tiny model saved in `folder` with `story.txt` beside it as its dataset: (project file, project, text)."""
    text = story()
    (folder / "story.txt").write_text(text, encoding="utf-8")
    project = tiny_language_model(len(set(text)), dataset="story.txt", **training)
    path = folder / "tiny_lm.lstudio"
    save_project(project, path)
    return path, project, text
