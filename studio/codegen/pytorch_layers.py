"""How each catalogue layer type becomes PyTorch: a constructor, a forward expression, helpers.

One small function per layer kind, gathered in `EMITTERS` by layer type. Each gets a `Site`
(the node's parameters, its input shapes, its attribute and the local names of its inputs)
and returns an `Emitted`. Values are emitted with `literal` (a repr); names arrive sanitized.
"""

from __future__ import annotations

from collections.abc import Callable

from studio.graph.catalogue.pytorch_records import Emitted, Site

EMITTERS: dict[str, Callable[[Site], Emitted]] = {
}
