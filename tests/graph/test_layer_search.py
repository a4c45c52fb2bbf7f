"""Layer search ranking: exact name, display name, prefix, a word of the name, other frameworks' names, category, description."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.graph.catalogue import CATALOGUE
from studio.graph.layer_search import (
    ALIAS,
    CATEGORY,
    DESCRIPTION,
    EXACT,
    OTHER_NAME,
    PREFIX,
    WORD,
    SearchEntry,
    catalogue_entries,
    match_tier,
    rank,
    search_layers,
)

ENTRIES = {entry.key: entry for entry in catalogue_entries()}


def tiers(query: str) -> list[int]:
    return [match_tier(query, ENTRIES[t]) for t in search_layers(query)]


def test_input_finds_the_input_layer_first_and_description_matches_last():
    found = search_layers("input")
    assert found[0] == "Input"
    assert found[1] == "Output"  # its category is Input/Output
    assert tiers("input")[:2] == [EXACT, CATEGORY]
    assert set(tiers("input")[2:]) == {DESCRIPTION}
    assert len(found) > 20  # the layers whose description speaks of inputs still come, after


def test_output_gives_output_before_input():
    assert search_layers("output")[:2] == ["Output", "Input"]
    assert search_layers("OUTPUT") == search_layers("output")


def test_conv_gives_the_2d_convolution_first_then_its_family():
    assert search_layers("conv")[:8] == [
        "Conv2d", "Conv1d", "Conv3d",  # "conv" is their display name (conv1, conv2, ...)
        "ConvTranspose2d", "ConvTranspose1d", "ConvTranspose3d",  # name prefix
        "DepthwiseConv2d", "SeparableConv2d",  # a word of the name
    ]
    assert tiers("conv")[:8] == [ALIAS] * 3 + [PREFIX] * 3 + [WORD] * 2


def test_relu_gives_relu_then_its_variants_then_layers_that_mention_it():
    found = search_layers("relu")
    assert found[:4] == ["ReLU", "ReLU6", "LeakyReLU", "PReLU"]
    assert tiers("relu")[:4] == [EXACT, PREFIX, WORD, WORD]
    assert set(tiers("relu")[4:]) == {DESCRIPTION}


def test_norm_gives_norm_then_normalize_then_the_normalization_layers():
    found = search_layers("norm")
    assert found[:3] == ["Norm", "Normalize", "BatchNorm2d"]
    norms = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d",
             "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "RMSNorm"}
    assert set(found[2:12]) == norms
    assert found.index("LayerNorm") < found.index("RMSNorm")  # among equals, the catalogue's order


def test_display_names_other_frameworks_names_and_written_together():
    assert search_layers("maxpool")[0] == "MaxPool2d"
    assert search_layers("max pool")[0] == "MaxPool2d"
    assert search_layers("max_pool")[0] == "MaxPool2d"
    assert search_layers("batch_norm")[0] == "BatchNorm2d"
    assert search_layers("dense")[0] == "Linear"  # Keras
    assert search_layers("gemm")[0] == "Linear"  # ONNX
    assert match_tier("innerproduct", ENTRIES["Linear"]) == OTHER_NAME  # Caffe


def test_every_word_of_a_query_must_match():
    found = search_layers("pool 2d")
    assert {"MaxPool2d", "AvgPool2d", "GlobalAvgPool2d"} <= set(found)
    assert not any(t.endswith(("1d", "3d")) for t in found)
    assert search_layers("zzzqqq") == [] and search_layers("   ") == []


def test_entries_of_the_caller_rank_by_their_order_among_equals():
    block = SearchEntry("ConvBlock", "ConvBlock", "Blocks", "Two convolutions", order=(-2, 0))
    conv = ENTRIES["Conv2d"]
    found = rank("conv", [conv, ENTRIES["ConvTranspose2d"], block])
    assert [e.key for e in found] == ["Conv2d", "ConvBlock", "ConvTranspose2d"]  # the block's prefix match goes first among prefixes
    assert rank("block", [conv, block]) == [block]


WORDS = sorted({w for t in CATALOGUE for w in (t.lower(), t[:3].lower(), t[-4:].lower())} | {"norm", "pool", "the", "input", "2d"})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join))
def test_results_come_in_tier_order_and_hold_every_match(query):
    found = search_layers(query)
    assert tiers(query) == sorted(tiers(query))
    assert set(found) == {t for t, e in ENTRIES.items() if match_tier(query, e) is not None}
