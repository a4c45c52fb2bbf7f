"""The project file's JSON text: what the json module reads back as the same value, short arrays and objects on one line."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.graph.json_text import WIDTH, dumps_indented

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=40) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=6), max_leaves=60)


def one_line(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_the_text_reads_back_as_the_value_in_the_same_text(value: object) -> None:
    text = dumps_indented(value)
    again = json.loads(text)
    assert again == json.loads(one_line(value))  # tuples read back as lists
    assert dumps_indented(again) == text


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_a_line_is_too_long_only_where_it_holds_one_scalar(value: object) -> None:
    for line in dumps_indented(value).splitlines():
        if len(line) <= WIDTH:
            continue
        rest = line.strip().removesuffix(",")
        if rest.startswith('"') and '": ' in rest:  # a key, then its value
            rest = rest[json.decoder.scanstring(rest, 1)[1] + 2 :]
        assert rest in ("{", "[") or not isinstance(json.loads(rest), (list, dict))


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_keys_are_sorted_and_the_indent_is_two_spaces(value: object) -> None:
    text = dumps_indented(value)
    if not isinstance(value, (list, tuple, dict)) or len(one_line(value)) < WIDTH:
        assert text == one_line(value)
    for line in text.splitlines():
        assert (len(line) - len(line.lstrip(" "))) % 2 == 0


def test_what_fits_is_one_line_and_what_does_not_is_spread() -> None:
    layer = {"type": "ReLU", "name": "relu1", "params": {}, "position": [260.0, 0.0]}
    assert dumps_indented({"nodes": {"n1": layer}}) == '{"nodes": {"n1": {"name": "relu1", "params": {}, "position": [260.0, 0.0], "type": "ReLU"}}}'
    wide = {"nodes": {f"n{i}": layer for i in range(3)}}
    assert dumps_indented(wide).splitlines() == [
        "{",
        '  "nodes": {',
        '    "n0": {"name": "relu1", "params": {}, "position": [260.0, 0.0], "type": "ReLU"},',
        '    "n1": {"name": "relu1", "params": {}, "position": [260.0, 0.0], "type": "ReLU"},',
        '    "n2": {"name": "relu1", "params": {}, "position": [260.0, 0.0], "type": "ReLU"}',
        "  }",
        "}",
    ]
    assert dumps_indented(list(range(40))).count("\n") == 41  # 40 items cannot share a line of 100


def test_keys_that_are_not_text_and_unknown_types_go_to_the_json_module() -> None:
    assert json.loads(dumps_indented({2: "a", 1: [True, None]})) == {"1": [True, None], "2": "a"}
    with pytest.raises(TypeError):
        dumps_indented({"a": {1, 2}})
    with pytest.raises(TypeError):
        dumps_indented([{"a": {1, 2}}] * 50)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_hold_are_refused(number: float) -> None:
    with pytest.raises(ValueError):
        dumps_indented({"a": [number]})
    with pytest.raises(ValueError):
        dumps_indented({"a": [number] * 50})
