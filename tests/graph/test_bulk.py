"""The collector pause around bulk work: it holds for the block, nests, and always ends."""

from __future__ import annotations

import gc

import pytest

from studio.graph.bulk import collector_paused


def test_the_collector_is_paused_inside_and_back_after_nesting_and_errors() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block does not end the outer pause
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("bulk work failed")
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
