"""The importers' name table: file names kept where the graph allows, made unique with the first free suffix."""

from __future__ import annotations

from studio.interop.common import NameTable


def test_repeated_names_take_the_next_free_suffix_even_past_names_the_file_took() -> None:
    table = NameTable()
    assert [table.take(n) for n in ("relu_3", "relu", "relu", "relu", "relu", "", "")] == ["relu_3", "relu", "relu_2", "relu_4", "relu_5", "layer", "layer_2"]


def test_names_are_cleaned_and_cut_before_they_are_made_unique() -> None:
    table = NameTable()
    long = "x" * 500
    first, second = table.take(long), table.take(long)
    assert first == "x" * 122 and second == first + "_2"
    assert table.take("a\nb\x00c", "conv") == "a_b_c"
    assert table.take("   ", "conv") == "conv"
