"""The most weights a network may hold before anything allocates them: its size from the shape analysis, and the limit.

NOTE: every place that builds a network's tensors (an export, a training run, the layer output
view, a Caffe import filling the layers its .caffemodel leaves out) asks `check_network` or
`check_bytes` first, so a network of 10^12 parameters is refused with its size, never by an
allocation failure. The limit is a fixed figure, not a share of this machine's memory, so a
project behaves the same everywhere; raise it with LAYER_STUDIO_MAX_WEIGHTS_GIB (the
commands' --max-weights-gib sets it).
"""

from __future__ import annotations

import math
import os

from studio.graph.blocks import expansion_problem
from studio.graph.model import Graph
from studio.graph.shapes import snapshot_analysis

LIMIT_VARIABLE = "LAYER_STUDIO_MAX_WEIGHTS_GIB"
DEFAULT_LIMIT_GIB = 16.0
PARAM_BYTES = 4  # float32, what every generated model holds its parameters in
BUFFER_BYTES = 8  # a buffer may be int64 (a BatchNorm's count, an integer Constant): counted at the wider size
_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


class WeightsLimitError(Exception):
    """A network or weights file larger than the limit, or a limit that is not a number; the message says which."""


def limit_bytes() -> int:
    """The limit in bytes: LAYER_STUDIO_MAX_WEIGHTS_GIB when set, else 16 GiB.

    Raises:
        WeightsLimitError: the variable is set to something other than a positive number.
    """
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not text:
        return int(DEFAULT_LIMIT_GIB * 2**30)
    try:
        gib = parse_limit(text)
    except ValueError:
        raise WeightsLimitError(f"{LIMIT_VARIABLE}={text!r} is not a size: give a positive number of GiB, such as 64") from None
    return int(min(gib, 2.0**40) * 2**30)


def parse_limit(text: str) -> float:
    """A --max-weights-gib value as a number of GiB; ValueError names what would be valid."""
    try:
        gib = float(text)
    except ValueError:
        gib = math.nan
    if not (math.isfinite(gib) and gib > 0):
        raise ValueError(f"{text!r} is not a size: give a positive number of GiB, such as 64")
    return gib


def set_limit(gib: float | None) -> None:
    """Make `gib` the limit of this process and of the processes it starts (a training run's child); None keeps it."""
    if gib is not None:
        os.environ[LIMIT_VARIABLE] = repr(gib)


def network_size(graph: Graph) -> tuple[int, int]:
    """The bytes and the number of tensor elements the network's layers hold, from the shape analysis (blocks included)."""
    results = snapshot_analysis(graph).results().values()
    params = sum(r.params for r in results)
    buffers = sum(r.buffers for r in results)
    return params * PARAM_BYTES + buffers * BUFFER_BYTES, params + buffers


def check_network(graph: Graph) -> None:
    """Refuse a network whose weights would be larger than the limit, or whose block instances expand past `MAX_EXPANDED_LAYERS` layers, before anything is built.

    Raises:
        WeightsLimitError: its size, the limit and how to raise it (or its expanded layers and their limit).
    """
    reason = expansion_problem(graph)
    if reason is not None:
        raise WeightsLimitError(f"the network cannot be built: {reason}")
    size, count = network_size(graph)
    check_bytes(size, f"the network needs {describe_bytes(size)} of weights ({describe_count(count)} parameters)")


def check_bytes(size: int, needs: str) -> None:
    """Refuse `size` bytes of weights above the limit; `needs` says what needs them ("the network needs 3.6 TiB ...").

    Raises:
        WeightsLimitError: `needs`, the limit and how to raise it.
    """
    limit = limit_bytes()
    if size > limit:
        raise WeightsLimitError(f"{needs}; the limit is {describe_bytes(limit)}: raise it with --max-weights-gib or {LIMIT_VARIABLE}")


def describe_bytes(size: int) -> str:
    """A byte count as people read it: 3.6 TiB, 512 MiB, 40 bytes."""
    if size >= 2**80:  # past exbibytes (and past what a float holds, for a crafted shape)
        return f"about 2^{size.bit_length() - 1} bytes"
    value, unit = float(size), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    if unit == 0:
        return f"{size} bytes"
    shown = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    return f"{shown} {_UNITS[unit]}"


def describe_count(count: int) -> str:
    """A parameter count as people read it: 1,234,567 up to a billion, then 1e12."""
    if count >= 2**80:
        return f"about 2^{count.bit_length() - 1}"
    return f"{count:,}" if count < 10**9 else f"{count:.2g}".replace("e+", "e")
