"""`layer-studio layers` tells LiteRT's support of each layer type as the LiteRT export decides it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from studio.cli import main
from studio.codegen.litert import LIMITS, litert_target, unsupported_litert_nodes
from studio.graph.catalogue import CATALOGUE
from studio.graph.catalogue.base import Unsupported
from tests.codegen.cases import LAYER_TYPES, layer_project

REFUSED = {  # one setting of each layer type with LiteRT limits that the LiteRT export refuses
    "ConvTranspose3d": {"stride": 2},
    "Resize": {"scale_factor": (1.5, 0.75)},
    "Flip": {"dims": (1, 3)},
}


def layers(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["layers", *args]) == 0
    return capsys.readouterr().out


def test_every_layer_type_the_litert_export_takes_at_its_defaults_says_litert_true(capsys: pytest.CaptureFixture[str]) -> None:
    entries = {e["type"]: e for e in json.loads(layers(capsys, "--json"))}
    for layer_type in LAYER_TYPES:
        entry = entries[layer_type]
        refused = unsupported_litert_nodes(layer_project(layer_type))
        assert entry["targets"]["litert"] is True and not refused, (layer_type, refused)
        assert entry["mapping"]["litert"] == f"{entry['mapping']['pytorch']}, converted by litert-torch"


@pytest.mark.parametrize(("layer_type", "params"), REFUSED.items(), ids=list(REFUSED))
def test_a_setting_the_export_refuses_is_a_limit_of_its_layer_type(capsys: pytest.CaptureFixture[str], layer_type: str,
                                                                   params: dict[str, Any]) -> None:  # fmt: skip
    refused = unsupported_litert_nodes(layer_project(layer_type, params))
    assert len(refused) == 1 and f": {layer_type}: LiteRT" in refused[0]
    entry = next(e for e in json.loads(layers(capsys, "--json")) if e["type"] == layer_type)
    assert entry["targets"]["litert"] is True and entry["limits"] == {"litert": LIMITS[layer_type].summary}
    assert f"  [litert: {LIMITS[layer_type].summary}]" in next(line for line in layers(capsys).splitlines() if f"  {layer_type} " in line)


def test_the_limits_are_exactly_the_layer_types_with_a_refused_setting(capsys: pytest.CaptureFixture[str]) -> None:
    limited = {e["type"] for e in json.loads(layers(capsys, "--json")) if e["limits"]}
    assert limited == set(LIMITS) == set(REFUSED)


def test_a_layer_without_a_pytorch_form_has_no_litert_form_either() -> None:
    spec = replace(CATALOGUE["Flip"], targets={**CATALOGUE["Flip"].targets, "pytorch": Unsupported("no torch form")})
    assert litert_target(spec) == "the LiteRT export converts the PyTorch model: no torch form"
