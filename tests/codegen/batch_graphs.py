"""Graphs whose batch is folded and unfolded again: attention heads built from plain layers."""

from __future__ import annotations

from studio.graph import Graph
from studio.graph.project import Project

HEADS, TOKENS, WIDTH = 2, 6, 8


def heads_project() -> Project:
    """Input (6, 8) -> q, k, v Linear -> heads folded into the batch -> softmax(q kᵀ) v -> unfolded -> (6, 8)."""
    graph = Graph()

    def chain(source, *steps):
        for layer_type, name, params in steps:
            node = graph.add_node(layer_type, name, params)
            graph.connect(source.id, "out", node.id, "in")
            source = node
        return source

    x = graph.add_node("Input", "tokens", {"shape": (TOKENS, WIDTH)})
    split = [("Reshape", "{}_heads", {"shape": (TOKENS, HEADS, WIDTH // HEADS)}), ("Permute", "{}_first", {"dims": (2, 1, 3)}),
             ("Reshape", "{}_fold", {"shape": (TOKENS, WIDTH // HEADS), "batch": "fold"})]  # fmt: skip
    q, k, v = (
        chain(x, ("Linear", name, {"out_features": WIDTH}), *((t, n.format(name), p) for t, n, p in split)) for name in "qkv"
    )
    keys = chain(k, ("Permute", "k_columns", {"dims": (2, 1)}))
    scores = graph.add_node("MatMul", "scores")
    graph.connect(q.id, "out", scores.id, "a")
    graph.connect(keys.id, "out", scores.id, "b")
    weights = chain(scores, ("Softmax", "weights", {"dim": -1}))
    mixed = graph.add_node("MatMul", "mixed")
    graph.connect(weights.id, "out", mixed.id, "a")
    graph.connect(v.id, "out", mixed.id, "b")
    out = chain(
        mixed,
        ("Reshape", "unfold", {"shape": (TOKENS, WIDTH // HEADS), "batch": "unfold"}),
        ("Permute", "tokens_first", {"dims": (2, 1, 3)}),
        ("Reshape", "joined", {"shape": (TOKENS, WIDTH)}),
    )
    graph.connect(out.id, "out", graph.add_node("Output", "attended").id, "in")
    return Project("heads", graph)
