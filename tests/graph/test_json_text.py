"""The project file's JSON text: the same as the json module writes, for any JSON value."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.graph.json_text import dumps_indented

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=40)


def reference(value: object) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_the_text_is_what_the_json_module_writes(value: object) -> None:
    assert dumps_indented(value) == reference(value)


def test_keys_that_are_not_text_and_unknown_types_go_to_the_json_module() -> None:
    assert dumps_indented({2: "a", 1: [True, None]}) == reference({2: "a", 1: [True, None]})
    with pytest.raises(TypeError):
        dumps_indented({"a": {1, 2}})


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_hold_are_refused(number: float) -> None:
    with pytest.raises(ValueError):
        dumps_indented({"a": [number]})
