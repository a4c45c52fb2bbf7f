"""The examples split by size, and the layer types a graph holds, for the export tests that cannot afford every example everywhere.

Two examples hold millions of parameters (ResNet-18 and BERT mini, both of blocks); the others
hold under 200,000. A test that runs the examples in a costly runtime (Keras on three backends,
LiteRT) runs the big ones where they prove something the small ones do not; the benchmarks run
every example everywhere.
"""

from __future__ import annotations

from pathlib import Path

from studio.graph import Graph
from studio.graph.shapes import analyse
from tests.codegen.cases import EXAMPLES, example

BIG_PARAMETERS = 1_000_000


def parameters(path: Path) -> int:
    """The example's parameter count, as the shape analysis gives it."""
    return analyse(example(path).graph).summary().total_params


def layer_types(graph: Graph) -> set[str]:
    """Every layer type in `graph`, and in the blocks it uses (their inner graphs, to any depth); a block's own name too."""
    found: set[str] = set()
    for node in graph.nodes.values():
        found.add(node.type)
        block = graph.library.get(node.type) if graph.library is not None else None
        if block is not None:
            found |= layer_types(block.graph)
    return found


BIG = [path for path in EXAMPLES if parameters(path) > BIG_PARAMETERS]
SMALL = [path for path in EXAMPLES if path not in BIG]
