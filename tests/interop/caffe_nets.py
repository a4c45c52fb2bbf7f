"""Small Caffe nets written inline for the importer's tests, and look-ups on what they import to."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.graph import analyse
from studio.graph.model import Node
from studio.interop.caffe_import import import_caffe
from studio.interop.common import ImportedModel, UnsupportedLayersError

MODELS = Path(__file__).resolve().parents[1] / "data" / "caffe"  # real nets, see its README

HEADER = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'


def layer(
    name: str,
    kind: str,
    bottoms: str | list[str],
    top: str | None = None,
    body: str = "",
) -> str:
    """One `layer { ... }` block; `top` defaults to the layer's name."""
    bottoms = [bottoms] if isinstance(bottoms, str) else bottoms
    wires = "".join(f' bottom: "{b}"' for b in bottoms if b) + f' top: "{top or name}"'
    return f'layer {{ name: "{name}" type: "{kind}"{wires} {body} }}\n'


def load(tmp_path: Path, text: str, name: str = "net.prototxt") -> ImportedModel:
    path = tmp_path / name
    path.write_text(text)
    return import_caffe(path)


def node(model: ImportedModel, name: str) -> Node:
    found = model.project.graph.node_by_name(name)
    assert found is not None, (
        f"no node {name!r} in {[n.name for n in model.project.graph.nodes.values()]}"
    )
    return found


def out_shape(model: ImportedModel, name: str) -> tuple:
    result = analyse(model.project.graph).result(node(model, name).id)
    assert result.outputs is not None
    return result.outputs["out"]


def feeder(model: ImportedModel, name: str, port: str = "in") -> str:
    graph = model.project.graph
    edge = graph.source_of(node(model, name).id, port)
    assert edge is not None
    return graph.node(edge.src).name


def unsupported(tmp_path: Path, text: str) -> UnsupportedLayersError:
    with pytest.raises(UnsupportedLayersError) as caught:
        load(tmp_path, text)
    return caught.value


def conv(name: str, bottom: str, settings: str, top: str | None = None) -> str:
    return layer(
        name, "Convolution", bottom, top, f"convolution_param {{ {settings} }}"
    )
