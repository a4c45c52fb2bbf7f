"""The block examples count what the networks they copy count: torchvision's ResNet-18 and Hugging Face's BERT-mini."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.graph.project import load_project
from studio.graph.shapes import analyse

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"


def test_resnet18_blocks_is_torchvisions_resnet18() -> None:
    project = load_project(EXAMPLES / "resnet18_blocks.lstudio")
    assert analyse(project.graph).summary().trainable_params == 11_689_512  # torchvision.models.resnet18()
    instances = [n for n in project.graph.nodes.values() if n.block is not None]
    assert len(instances) == 8 and {n.type for n in instances} == {"BasicBlock"}
    assert sum(n.params["downsample"] for n in instances) == 3
    assert len(project.graph.nodes) < 25


def test_bert_mini_blocks_is_bert_mini_with_a_classifier() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024
    )
    bert = transformers.BertModel(config)
    project = load_project(EXAMPLES / "bert_mini_blocks.lstudio")
    classifier = 256 * 2 + 2
    assert analyse(project.graph).summary().trainable_params == sum(p.numel() for p in bert.parameters()) + classifier
    encoder = project.graph.node_by_name("encoder")
    assert encoder.type == "EncoderLayer" and encoder.params["repeat"] == 4
