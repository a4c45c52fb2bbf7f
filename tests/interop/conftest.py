"""Interop tests leave torch as they found it: building a Hugging Face model adds methods to nn.Module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _module_class_unchanged() -> Iterator[None]:
    """Remove what a test module added to torch.nn.Module (transformers sets `smart_apply`), so later tests see plain torch."""
    before = set(vars(torch.nn.Module))
    yield
    for name in set(vars(torch.nn.Module)) - before:
        delattr(torch.nn.Module, name)
