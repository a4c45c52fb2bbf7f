"""The weights limit: a network's size from its shape analysis, the limit from the environment, sizes as people read them."""

from __future__ import annotations

import pytest

from studio.graph.model import Graph
from studio.graph.weights_limit import (
    WeightsLimitError,
    check_network,
    describe_bytes,
    describe_count,
    limit_bytes,
    network_size,
    parse_limit,
)


def linear(features: int, width: int, norm: bool = False) -> Graph:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (features,)})
    fc = graph.add_node("Linear", "fc", {"out_features": width})
    graph.connect(x.id, "out", fc.id, "in")
    last = fc
    if norm:
        last = graph.add_node("BatchNorm1d", "bn")
        graph.connect(fc.id, "out", last.id, "in")
    graph.connect(last.id, "out", graph.add_node("Output", "y").id, "in")
    return graph


def test_a_networks_size_counts_parameters_at_4_bytes_and_buffers_at_8() -> None:
    assert network_size(linear(3, 2)) == ((3 * 2 + 2) * 4, 8)
    size, count = network_size(linear(3, 2, norm=True))  # BatchNorm: weight and bias learned; mean, variance and a count kept
    assert (size, count) == ((8 + 4) * 4 + (2 + 2 + 1) * 8, 8 + 4 + 5)


def test_an_enormous_network_is_refused_with_its_size_and_how_to_raise_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAYER_STUDIO_MAX_WEIGHTS_GIB", raising=False)
    with pytest.raises(WeightsLimitError, match=r"^the network needs 3.6 TiB of weights \(1e12 parameters\); the limit is 16 GiB: raise it with --max-weights-gib or LAYER_STUDIO_MAX_WEIGHTS_GIB$"):
        check_network(linear(10**6, 10**6))
    check_network(linear(1000, 1000))
    monkeypatch.setenv("LAYER_STUDIO_MAX_WEIGHTS_GIB", "4096")
    check_network(linear(10**6, 10**6))  # 3.6 TiB fits under 4 TiB


@pytest.mark.parametrize("text", ["abc", "0", "-2", "nan", "inf", ""])
def test_a_limit_that_is_no_positive_size_is_named(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("LAYER_STUDIO_MAX_WEIGHTS_GIB", text)
    if not text:
        assert limit_bytes() == 16 * 2**30  # unset or empty: the default
        return
    with pytest.raises(WeightsLimitError, match=f"LAYER_STUDIO_MAX_WEIGHTS_GIB={text!r} is not a size: give a positive number of GiB"):
        limit_bytes()
    with pytest.raises(ValueError, match="is not a size"):
        parse_limit(text)


def test_sizes_read_as_people_read_them() -> None:
    assert [describe_bytes(n) for n in (40, 2048, 1536 * 2**20, 4 * 10**12, 2**70, 2**1200)] == ["40 bytes", "2 KiB", "1.5 GiB", "3.6 TiB", "1024 EiB", "about 2^1200 bytes"]
    assert [describe_count(n) for n in (4482, 10**12, 2**1000)] == ["4,482", "1e12", "about 2^1000"]
