"""How each catalogue layer type becomes Keras 3: functional-API steps, and its weights from PyTorch's.

One small function per layer kind, gathered in `EMITTERS` by layer type. Each gets a `Site` and
returns an `Emitted`: the statements that apply its Keras layer(s), and for each Keras layer that
holds weights a converter from the node's PyTorch state (numpy arrays) to `layer.set_weights`
order. Layout stays channels-first (`data_format="channels_first"`), so most weights move one to
one; kernels are transposed where Keras lays them out differently. A parameter value Keras cannot
express raises `Refused`, naming the parameter and the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from studio.graph.catalogue.keras_records import Emitted, Site

EMITTERS: dict[str, Callable[[Site], Emitted]] = {
}
