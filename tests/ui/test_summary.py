"""The status bar's summary line: counts, sizes and problems formatted for people."""

from __future__ import annotations

import pytest

from studio.graph.shapes import Summary
from studio.ui.summary import (
    format_bytes,
    format_count,
    format_problems,
    summary_text,
    summary_tooltip,
)

DIGITS = Summary(
    total_params=38282,
    trainable_params=38282,
    total_macs=340672,
    activation_elements=7434,
    errors=0,
    warnings=0,
)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (1234, "1.23k"),
        (61706, "61.7k"),
        (999_499, "999k"),
        (999_500, "1M"),
        (4_200_000, "4.2M"),
        (1_234_567, "1.23M"),
        (12_300_000_000, "12.3G"),
        (-61706, "-61.7k"),
    ],
)
def test_format_count(n, text):
    assert format_count(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (29736, "29 KB"),
        (150 * 1024, "150 KB"),
        (1024**2 - 1, "1 MB"),
        (int(12.3 * 1024**2), "12.3 MB"),
        (3 * 1024**3, "3 GB"),
    ],
)
def test_format_bytes(n, text):
    assert format_bytes(n) == text


@pytest.mark.parametrize(
    ("errors", "warnings", "text"),
    [
        (0, 0, "no problems"),
        (1, 0, "1 error"),
        (0, 1, "1 warning"),
        (2, 1, "2 errors, 1 warning"),
        (1, 3, "1 error, 3 warnings"),
    ],
)
def test_format_problems(errors, warnings, text):
    assert format_problems(errors, warnings) == text


def test_summary_text_of_the_digits_network():
    assert (
        summary_text(DIGITS)
        == "38.3k params · 341k MACs · 29 KB activations per sample · no problems"
    )


def test_summary_text_names_trainable_params_when_buffers_differ():
    summary = Summary(1_234_567, 1_230_000, 4_200_000, 1000, 2, 1)
    assert summary_text(summary) == (
        "1.23M params (1.23M trainable) · 4.2M MACs · 3.91 KB activations per sample · 2 errors, 1 warning"
    )


def test_summary_text_scales_with_the_batch():
    text = summary_text(DIGITS, batch_size=32)
    assert "10.9M MACs" in text
    assert "929 KB activations per batch of 32" in text


def test_tooltip_gives_exact_counts():
    tip = summary_tooltip(Summary(1_234_567, 1_230_000, 4_200_000, 1000, 2, 0))
    assert "Parameters: 1,234,567 (1,230,000 trainable, 4,567 in buffers)" in tip
    assert "Multiply-accumulates: 4,200,000 per sample" in tip
    assert "1,000 values, 3.91 KB as float32" in tip
    assert "2 errors" in tip
    assert "not counted" in tip
    assert "not counted" not in summary_tooltip(DIGITS)
