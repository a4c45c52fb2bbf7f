"""ONNX LSTM, GRU and RNN operators with the plumbing exporters write around them: one recurrent layer per stack.

A stack is a chain of operators of one form, each reading every step of the one below it
(time-major through the exporter's transposes, or batch-major at `layout` 1); it becomes one
layer of `num_layers`, forward, reversed or bidirectional. What the rest of the graph reads of a
stack is found by running the plumbing after it (transposes, reshapes, squeezes, gathers,
slices, concatenations) on numbered values: a tensor equal to one of the layer's ports (every
step batch first, the top layer's final hidden or cell state, forward then backward) is that
port, one direction's half of a final state (`h_n[-1]` of a bidirectional layer) is the port
and a Slice, and a time-major copy of the steps read only by further recurrent operators is
handed over to them. The plumbing up to those tensors goes with the stack; what follows them
is mapped as usual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio.graph.catalogue.recurrent_forms import PORTS
from studio.interop.common import Unmappable
from studio.interop.onnx_graph import BATCHES, ImportContext, run_nodes
from studio.interop.onnx_ops import floats, renamed
from studio.interop.onnx_patterns import Match

if TYPE_CHECKING:
    import numpy as np
    import onnx

RECURRENT = frozenset({"LSTM", "GRU", "RNN"})
PLUMBING = frozenset({"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Slice", "Gather", "Concat", "Identity", "Split"})
GATE_ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}  # ONNX gate blocks in PyTorch's order
DEFAULT_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}
MAX_CHECK_ELEMENTS = 1 << 22
MAX_LAYERS = 64


@dataclass(frozen=True)
class Form:
    """What an operator computes besides its weights: operators of one form stack into one layer."""

    op: str
    hidden: int
    direction: str  # forward, reverse or bidirectional
    nonlinearity: str  # an RNN's activation

    @property
    def directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1


@dataclass
class Plan:
    """Which tensors after a stack are its ports, and the plumbing taken to reach them."""

    taken: list[onnx.NodeProto] = field(default_factory=list)
    ports: dict[str, str] = field(default_factory=dict)  # port -> the first tensor that is it
    aliases: list[tuple[str, str]] = field(default_factory=list)  # (tensor, port): other tensors that are a port
    halves: list[tuple[str, str, int]] = field(default_factory=list)  # (tensor, port, 0 forward or 1 backward)
    handoffs: list[str] = field(default_factory=list)  # time-major copies of the steps, read by recurrent operators


def recurrent(ctx: ImportContext, node: onnx.NodeProto) -> Match | None:
    """An LSTM, GRU or RNN operator, the ones stacked on it, and the plumbing around them: one catalogue layer."""
    if ctx.is_constant(node.input[0]):
        return None
    taken, source, time_major = _entry(ctx, node)
    try:
        form = operator_form(ctx, node)
    except Unmappable as err:
        return _refused([*taken, node], err.kind)
    steps = _steps(ctx, source, time_major)
    if steps is None:
        return _refused([*taken, node], f"{node.op_type} (reads a time-major (T, N, F) input: sequences are batch first in Layer Studio)")
    stack = _stack(ctx, node, form, steps)
    for depth in range(len(stack), 0, -1):
        try:
            plan = _plan(ctx, stack[:depth], form, steps)
        except Unmappable as err:
            return _refused([*taken, node], err.kind)
        if plan is not None:
            nodes = [n for n, _ in stack[:depth]]
            links = [n for _, link in stack[:depth] for n in link]
            return Match(
                [*taken, *nodes, *links, *plan.taken],
                lambda c, s=stack[:depth], p=plan: _emit(c, s, form, source, time_major, p),
                anchor=nodes[-1],
            )
    region, _ = _region_after(ctx, [o for o in node.output if o])
    return _refused(
        [*taken, node, *region],
        f"{node.op_type} (an output read in a layout no port gives: every step (N, T, D·H), "
        "or the top layer's final states (N, D·H) or a direction's half of them)",
    )


def _refused(nodes: list[onnx.NodeProto], kind: str) -> Match:
    """A match whose emission reports `kind` at the recurrent operator: the nodes taken are listed as one."""

    def emit(ctx: ImportContext) -> None:
        raise Unmappable(kind)

    anchor = next(n for n in nodes if n.op_type in RECURRENT)
    return Match(nodes, emit, anchor=anchor)


def operator_form(ctx: ImportContext, node: onnx.NodeProto) -> Form:
    """The form of a recurrent operator; Unmappable for one no catalogue layer computes."""
    op, attrs = node.op_type, ctx.attrs(node)
    names = list(node.input) + [""] * 8
    if names[4]:
        raise Unmappable(f"{op} (sequence lengths: a layer reads every step of every sequence)")
    if op == "LSTM" and names[7]:
        raise Unmappable("LSTM (peephole weights)")
    if any(name and not _zeros(ctx, name) for name in names[5 : 7 if op == "LSTM" else 6]):
        raise Unmappable(f"{op} (an initial state other than zeros)")
    if any(not ctx.is_constant(name) for name in names[1:4] if name):
        raise Unmappable(f"{op} (weights computed from the data)")
    if attrs.get("clip") or attrs.get("input_forget", 0):
        raise Unmappable(f"{op} (clip or coupled gates)")
    if op == "GRU" and not attrs.get("linear_before_reset", 0):
        raise Unmappable("GRU (linear_before_reset 0)")
    direction = attrs.get("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    activations = [a.lower() for a in attrs.get("activations", [])]
    nonlinearity = "relu" if op == "RNN" and activations[:1] == ["relu"] else "tanh"
    if op == "RNN" and any(a != nonlinearity for a in activations):
        raise Unmappable("RNN (activations other than tanh or relu)")
    if op != "RNN" and activations and activations != DEFAULT_ACTIVATIONS[op] * dirs:
        raise Unmappable(f"{op} (custom activations)")
    return Form(op, int(attrs["hidden_size"]), direction, nonlinearity)


def _zeros(ctx: ImportContext, name: str) -> bool:
    import numpy as np

    values = ctx.batch_consts.get(name) or (ctx.consts.get(name),)
    return all(v is not None and not np.any(v) for v in values)


def _layout(ctx: ImportContext, node: onnx.NodeProto) -> int:
    return int(ctx.attrs(node).get("layout", 0))


def _entry(ctx: ImportContext, node: onnx.NodeProto) -> tuple[list[onnx.NodeProto], str, bool]:
    """The nodes taken before the first operator, the tensor it reads, and whether that is time-major."""
    x = node.input[0]
    if _layout(ctx, node) == 1:
        return [], x, False
    flip = ctx.producer.get(x)
    if flip is None or flip.op_type != "Transpose" or list(ctx.attrs(flip).get("perm", [])) != [1, 0, 2]:
        return [], x, True
    readers = ctx.consumers.get(x, [])
    alone = x not in ctx.outputs and all(r.op_type in RECURRENT and r.input[0] == x and _layout(ctx, r) == 0 for r in readers)
    return ([flip] if alone and not ctx.is_claimed(flip) else []), flip.input[0], False  # operators beside it share it


def _steps(ctx: ImportContext, tensor: str, time_major: bool) -> int | None:
    """The number of steps of the sequence `tensor`: read from its batch-first form, followed back if it is time-major."""
    for _ in range(4 * MAX_LAYERS):
        shape = ctx.inferred.get(tensor)
        if not time_major:
            return int(shape[1]) if shape is not None and len(shape) == 3 and shape[1] else None
        node = ctx.producer.get(tensor)
        if node is None:
            return None
        if node.op_type == "Transpose" and list(ctx.attrs(node).get("perm", [])) == [1, 0, 2]:
            tensor, time_major = node.input[0], False
        elif node.op_type in RECURRENT:
            tensor, time_major = node.input[0], _layout(ctx, node) == 0
        elif node.op_type in PLUMBING and len(ctx.live_inputs(node)) == 1:
            tensor = ctx.live_inputs(node)[0]
        else:
            return None
    return None


def _region_after(ctx: ImportContext, sources: list[str]) -> tuple[list[onnx.NodeProto], list[str]]:
    """The plumbing nodes fed only by `sources` (and constants), and the tensors they pass on to the rest of the graph."""
    region: list[onnx.NodeProto] = []
    inside = set(sources)
    frontier = list(sources)
    while frontier:
        tensor = frontier.pop()
        for reader in ctx.consumers.get(tensor, []):
            if reader.op_type not in PLUMBING or ctx.is_claimed(reader) or reader in region:
                continue
            if not all(not n or n in inside or ctx.is_constant(n) for n in reader.input):
                continue
            region.append(reader)
            inside.update(o for o in reader.output if o)
            frontier.extend(o for o in reader.output if o)
    region.sort(key=lambda n: ctx.index[id(n)])
    leaving = [t for t in inside if t in ctx.outputs or any(r not in region for r in ctx.consumers.get(t, []))]
    return region, leaving


# ----- stacks -----
def _stack(ctx: ImportContext, first: onnx.NodeProto, form: Form, steps: int) -> list[tuple[onnx.NodeProto, list[onnx.NodeProto]]]:
    """`first` and the operators of its form stacked on it, each with the plumbing that hands it the steps below."""
    stack: list[tuple[onnx.NodeProto, list[onnx.NodeProto]]] = [(first, [])]
    while len(stack) < MAX_LAYERS:
        below = stack[-1][0]
        y = below.output[0] if below.output else ""
        if not y or y in ctx.outputs:
            break
        region, _ = _region_after(ctx, [y])
        inside = {y} | {o for n in region for o in n.output if o}
        uppers = [r for t in inside for r in ctx.consumers.get(t, []) if r.op_type in RECURRENT and r.input[0] == t]
        if len(uppers) != 1 or ctx.is_claimed(uppers[0]):
            break
        upper = uppers[0]
        try:
            if operator_form(ctx, upper) != form:
                break
        except Unmappable:
            break
        link = _feeding(region, upper.input[0])
        made = {y} | {o for n in link for o in n.output if o}
        outside = [r for t in made for r in ctx.consumers.get(t, []) if r is not upper and r not in link]
        if outside or made & ctx.outputs or not _hands_over(ctx, below, link, upper, form, steps):
            break
        stack.append((upper, link))
    return stack


def _feeding(region: list[onnx.NodeProto], tensor: str) -> list[onnx.NodeProto]:
    """The nodes of `region` that `tensor` is computed from, in order."""
    wanted, found = {tensor}, []
    for node in reversed(region):
        if any(o in wanted for o in node.output):
            found.append(node)
            wanted.update(node.input)
    return found[::-1]


def _hands_over(
    ctx: ImportContext, below: onnx.NodeProto, link: list[onnx.NodeProto], upper: onnx.NodeProto, form: Form, steps: int
) -> bool:
    """Whether `link` turns every step of `below` into the sequence `upper` reads: time-major at its layout 0, else batch first."""
    import numpy as np

    if not link:
        return False
    batch = BATCHES[0]
    numbered = Numbered(steps, form.directions, batch, form.hidden)
    y = numbered.steps()
    try:
        got = run_nodes(ctx, link, {below.output[0]: numbered.laid_out(y, _layout(ctx, below))}, [upper.input[0]])[0]
    except Exception:  # noqa: BLE001 - plumbing that cannot run on these steps does not hand them over
        return False
    wanted = numbered.time_major(y) if _layout(ctx, upper) == 0 else numbered.batch_first(y)
    return bool(got.shape == wanted.shape and np.array_equal(got, wanted))


class Numbered:
    """Distinct numbers in the shapes a recurrent operator gives, and the layouts of its ports made from them."""

    def __init__(self, steps: int, directions: int, batch: int, hidden: int) -> None:
        self.sizes = (steps, directions, batch, hidden)
        self.used = 0

    def _next(self, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        size = math.prod(shape)
        values = np.arange(self.used, self.used + size, dtype=np.float64).reshape(shape)
        self.used += size
        return values

    def steps(self) -> np.ndarray:
        """Every step as ONNX's Y holds it at layout 0: (T, D, N, H)."""
        return self._next(self.sizes)

    def final(self) -> np.ndarray:
        """A final state as ONNX's Y_h holds it at layout 0: (D, N, H)."""
        return self._next(self.sizes[1:])

    @staticmethod
    def laid_out(values: np.ndarray, layout: int) -> np.ndarray:
        """Y or a final state as the operator gives it at `layout` (1: the batch first)."""
        if layout == 0:
            return values
        return values.transpose(2, 0, 1, 3) if values.ndim == 4 else values.transpose(1, 0, 2)

    def batch_first(self, y: np.ndarray) -> np.ndarray:
        """Every step as the `sequence` port holds it: (N, T, D·H)."""
        steps, dirs, batch, hidden = self.sizes
        return y.transpose(2, 0, 1, 3).reshape(batch, steps, dirs * hidden)

    def time_major(self, y: np.ndarray) -> np.ndarray:
        """Every step as a time-major operator reads it: (T, N, D·H)."""
        steps, dirs, batch, hidden = self.sizes
        return y.transpose(0, 2, 1, 3).reshape(steps, batch, dirs * hidden)

    def joined(self, final: np.ndarray) -> np.ndarray:
        """A final state as the `hidden` and `cell` ports hold it: (N, D·H), forward then backward."""
        _, dirs, batch, hidden = self.sizes
        return final.transpose(1, 0, 2).reshape(batch, dirs * hidden)


# ----- what the graph reads -----
def _read(ctx: ImportContext, tensor: str) -> bool:
    return bool(tensor) and (tensor in ctx.outputs or bool(ctx.consumers.get(tensor)))


def _plan(ctx: ImportContext, stack: list[tuple[onnx.NodeProto, list[onnx.NodeProto]]], form: Form, steps: int) -> Plan | None:
    """Which tensors after the stack are its ports, at the probing batch (and the batch a fixed-batch model was exported with)."""
    nodes = [n for n, _ in stack]
    top = nodes[-1]
    batches = [BATCHES[0]]
    if ctx.fixed_batch is not None and ctx.fixed_batch not in batches:
        batches.append(ctx.fixed_batch)
    for batch in batches:
        if steps * form.directions * batch * form.hidden * (2 * len(nodes) + 1) > MAX_CHECK_ELEMENTS:
            raise Unmappable(f"{form.op} (too large to check which of its outputs are read)")
        numbered = Numbered(steps, form.directions, batch, form.hidden)
        feeds: dict[str, Any] = {}
        y = numbered.steps()
        if _read(ctx, top.output[0]):
            feeds[top.output[0]] = numbered.laid_out(y, _layout(ctx, top))
        finals: dict[str, Any] = {}
        for node in nodes:
            for index, port in ((1, "hidden"), (2, "cell")):
                values = numbered.final()
                if len(node.output) > index and _read(ctx, node.output[index]):
                    feeds[node.output[index]] = numbered.laid_out(values, _layout(ctx, node))
                if node is top:
                    finals[port] = values
        candidates = _candidates(numbered, y if top.output[0] in feeds else None, finals, form)
        plan = _cut(ctx, feeds, candidates)
        if plan is not None:
            return plan
    return None


def _candidates(numbered: Numbered, y: Any, finals: dict[str, Any], form: Form) -> list[tuple[str, int | None, Any]]:
    """What a tensor after the stack may be: (port, None) for a whole port, (port, 0 or 1) for a direction's half of a
    final state, ("time_major", None) for the steps handed over time-major."""
    found: list[tuple[str, int | None, Any]] = []
    if y is not None:
        found.append(("sequence", None, numbered.batch_first(y)))
    for port, values in finals.items():
        if port in PORTS[form.op]:
            joined = numbered.joined(values)
            found.append((port, None, joined))
            if form.directions == 2:
                found += [(port, 0, joined[:, : form.hidden]), (port, 1, joined[:, form.hidden :])]
    if y is not None:
        found.append(("time_major", None, numbered.time_major(y)))
    return found


def _cut(ctx: ImportContext, feeds: dict[str, Any], candidates: list[tuple[str, int | None, Any]]) -> Plan | None:
    """Take the plumbing after `feeds` up to the tensors that are ports; None when some result that leaves it is none.

    The plumbing is followed as far as it goes before the rest of the graph reads it (two halves
    of a final state concatenated again are the whole port), else only to the first tensor that
    is a port (every step, before a Gather of one step that the ordinary mapping takes).
    """
    import numpy as np

    region, _ = _region_after(ctx, list(feeds))
    produced = [o for n in region for o in n.output if o]
    try:
        values = dict(zip(produced, run_nodes(ctx, region, feeds, produced))) if region else {}
    except Exception:  # noqa: BLE001 - plumbing that cannot run on these outputs does not read them
        return None
    inside = {id(n) for n in region}
    for greedy in (True, False):
        plan = Plan()
        open_ = set(feeds)
        for node in region:
            live = [n for n in node.input if n and not ctx.is_constant(n)]
            if not live or not all(n in open_ for n in live):
                continue
            plan.taken.append(node)
            for tensor in (o for o in node.output if o):
                value = values[tensor]
                match = next((c for c in candidates if c[2].shape == value.shape and np.array_equal(c[2], value)), None)
                outside = [r for r in ctx.consumers.get(tensor, []) if id(r) not in inside]
                if match is not None and match[0] == "time_major":
                    if any(r.op_type in RECURRENT for r in outside):
                        plan.handoffs.append(tensor)
                    open_.add(tensor)
                elif match is None or (greedy and not outside and tensor not in ctx.outputs):
                    open_.add(tensor)
                elif match[1] is not None:
                    plan.halves.append((tensor, match[0], match[1]))
                elif match[0] in plan.ports:
                    plan.aliases.append((tensor, match[0]))
                else:
                    plan.ports[match[0]] = tensor
        if _closed(ctx, plan, open_):
            return plan
    return None


def _closed(ctx: ImportContext, plan: Plan, open_: set[str]) -> bool:
    """Whether every tensor that is no port is read only by the plumbing taken (or, handed over, by recurrent operators)."""
    taken = {id(n) for n in plan.taken}
    for tensor in open_:
        if tensor in ctx.outputs:
            return False
        for reader in ctx.consumers.get(tensor, []):
            if id(reader) not in taken and not (tensor in plan.handoffs and reader.op_type in RECURRENT):
                return False
    return True


# ----- the layer -----
def _emit(
    ctx: ImportContext,
    stack: list[tuple[onnx.NodeProto, list[onnx.NodeProto]]],
    form: Form,
    source: str,
    time_major: bool,
    plan: Plan,
) -> None:
    nodes = [n for n, _ in stack]
    if time_major:
        if source not in ctx.seq_first:
            raise Unmappable(f"{form.op} (reads a time-major (T, N, F) tensor that no layer gives)")
        source = ctx.seq_first[source]
    source = ctx.resolve(source)
    shape = ctx.shapes.get(source)
    if shape is None or len(shape) != 3:
        raise Unmappable(f"{form.op} (an input that is not a sequence (N, T, F))")
    params: dict[str, Any] = {
        "hidden_size": form.hidden,
        "num_layers": len(nodes),
        "bidirectional": form.directions == 2,
        "reverse": form.direction == "reverse",
        "bias": any(len(n.input) > 3 and bool(n.input[3]) for n in nodes),
    }
    if form.op == "RNN":
        params["nonlinearity"] = form.nonlinearity
    weights = _weights(ctx, nodes, form, int(shape[2] or 0), params["bias"])
    top = nodes[-1]
    ports = dict(plan.ports)
    if "sequence" not in ports and plan.handoffs:
        ports["sequence"] = f"{plan.handoffs[0]}::batch_first"
    for _, port, _ in plan.halves:
        ports.setdefault(port, f"{top.output[0] or top.name}::{port}")
    outputs = [ports.get(port, "") for port in PORTS[form.op]]
    if not any(outputs):
        raise Unmappable(f"{form.op} (none of its outputs is read)")
    first = nodes[0]
    ctx.emit(first, form.op, params, [source], outputs, weights)
    for tensor, port in plan.aliases:
        ctx.alias(tensor, ports[port])
    for tensor in plan.handoffs:
        ctx.seq_first[tensor] = ports["sequence"]
    base = first.name or form.op.lower()
    for tensor, port, half in plan.halves:
        which = ("forward", "backward")[half]
        slicer = renamed(first, f"{base}_{port}_{which}")
        ctx.emit(slicer, "Slice", {"dim": -1, "start": half * form.hidden, "length": form.hidden}, [ports[port]], tensor)


def _weights(ctx: ImportContext, nodes: list[onnx.NodeProto], form: Form, features: int, bias: bool) -> dict[str, np.ndarray]:
    """Every operator's W, R and B in PyTorch's names and gate order (zero biases where an operator has none)."""
    import numpy as np

    order = GATE_ORDER[form.op]
    rows = len(order) * form.hidden

    def reordered(matrix: np.ndarray) -> np.ndarray:
        blocks = np.split(matrix, len(order), axis=0)
        return floats(np.concatenate([blocks[i] for i in order], axis=0))

    weights = {}
    for layer, node in enumerate(nodes):
        w, r = ctx.const(node.input[1]), ctx.const(node.input[2])
        b = ctx.const(node.input[3]) if len(node.input) > 3 and node.input[3] else np.zeros((form.directions, 2 * rows), np.float32)
        width = features if layer == 0 else form.directions * form.hidden
        if w is None or r is None or b is None or w.shape != (form.directions, rows, width) or r.shape != (form.directions, rows, form.hidden):
            raise Unmappable(f"{form.op} (weights of other sizes than its input and hidden_size give)")
        for d in range(form.directions):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            weights[f"weight_ih{suffix}"] = reordered(w[d])
            weights[f"weight_hh{suffix}"] = reordered(r[d])
            if bias:
                weights[f"bias_ih{suffix}"] = reordered(b[d][:rows])
                weights[f"bias_hh{suffix}"] = reordered(b[d][rows:])
    return weights
