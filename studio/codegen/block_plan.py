"""How many classes a block needs, and what each one's layers read: shared by the PyTorch and Keras generators.

A block's contexts share one class where their code lines up (`unify`). A switch that differs
between them becomes a flag, and the layers it switches run behind it; a switch the same in
all of them is a constant: layers it keeps off are left out and their readers read what fed
them, as in the resolved graph. Where the contexts do not line up they are split, first by
their switches, then by the shape of their code, so every group is one class and the code is
never wrong; a second class of a block is named `BasicBlock2`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from studio.codegen.contexts import Context, Uses
from studio.codegen.names import CodegenError, Namespace
from studio.codegen.unify import Candidate, Piece, Template, Unified, is_value, unify
from studio.graph.blocks import Block
from studio.graph.model import Graph

Source = tuple[str, str]  # (inner node id, output port)


@dataclass(frozen=True)
class View:
    """What a class leaves out (layers switched off in all its contexts) and runs behind flags (switches that differ)."""

    off: frozenset[str]
    flags: Mapping[str, tuple[str, ...]]  # layer -> the exposed switches that must be on for it to run
    varying: tuple[str, ...]  # the exposed switches that differ between the contexts

    def source(self, graph: Graph, src: str, port: str, also: frozenset[str] = frozenset()) -> Source | None:
        """What feeds a tensor once the layers left out (and `also`) pass their first input through."""
        while src in self.off or src in also:
            node = graph.nodes[src]
            ports = node.spec.input_ports(node.params)
            edge = graph.source_of(src, ports[0].name) if ports else None
            if edge is None:
                return None
            src, port = edge.src, edge.src_port
        return src, port


Emit = Callable[[Context, View], "tuple[dict[str, Piece | None], dict[str, Any]] | None"]


@dataclass
class Plan:
    """One class of a block: the contexts it serves (real ones, then probes), what its layers emit, and its parameters."""

    block: Block
    contexts: list[Context]
    view: View
    unified: Unified
    emitted: dict[str, Any]  # layer -> its emission in a context where it runs (the parts every context shares)
    raws: list[dict[str, Any]]  # per context, each layer's own emission there
    name: str = ""

    def column(self, context: Context) -> int:
        """Where a context's values sit in the parameters' `texts`."""
        return next(i for i, c in enumerate(self.contexts) if c is context)


def view_of(block: Block, contexts: list[Context]) -> View:
    """The switches of these contexts: constant ones leave layers out, differing ones become flags."""
    switches = [e for e in block.exposed if e.switches]
    varying = tuple(e.name for e in switches if len({bool(c.values[e.name]) for c in contexts}) > 1)
    off = frozenset(n for e in switches if e.name not in varying and not contexts[0].values[e.name] for n in e.switches)
    flags: dict[str, tuple[str, ...]] = {}
    for e in switches:
        if e.name in varying:
            for node_id in e.switches:
                if node_id not in off:
                    flags[node_id] = (*flags.get(node_id, ()), e.name)
    return View(off, flags, varying)


def plan_block(
    block: Block,
    contexts: list[Context],
    emit: Emit,
    idents: Mapping[str, str],
    params: Mapping[str, str],
    fallback: Callable[[], Namespace],
    uses: Uses | None = None,
) -> list[Plan]:
    """The classes `contexts` need, each with the contexts it serves; probes of `uses` join a single class where they fit.

    `params` names each exposed parameter and input size as a class parameter; `fallback` gives
    a namespace for parameters named after a layer.
    """
    whole = _attempt(block, contexts, emit, idents, params, fallback)
    plans = [whole] if whole is not None else []
    for part in [] if whole is not None else _split(contexts, lambda c: tuple(bool(c.values[e.name]) for e in block.exposed if e.switches)):
        found = _attempt(block, part, emit, idents, params, fallback)
        if found is not None:
            plans.append(found)
            continue
        view = view_of(block, part)
        for group in _split(part, lambda c, view=view: _signature(emit(c, view))):
            found = _attempt(block, group, emit, idents, params, fallback)
            if found is None:  # one signature always lines up; this would be a bug
                raise CodegenError(f"cannot write one class for the uses of block {block.name} that read alike")
            plans.append(found)
    return [_probed(plan, emit, idents, params, fallback, uses) for plan in plans] if uses is not None else plans


def _attempt(
    block: Block,
    contexts: list[Context],
    emit: Emit,
    idents: Mapping[str, str],
    params: Mapping[str, str],
    fallback: Callable[[], Namespace],
    refused: frozenset[str] = frozenset(),
) -> Plan | None:
    view = view_of(block, contexts)
    pieces: dict[str, list[Piece | None]] = {}
    emitted: dict[str, Any] = {}
    raws = []
    for context in contexts:
        found = emit(context, view)
        if found is None:
            return None
        row, raw = found
        raws.append(raw)
        for layer, item in row.items():
            pieces.setdefault(layer, []).append(item)
        for layer, item in raw.items():
            emitted.setdefault(layer, item)
    candidates = _candidates(block, contexts, params, refused)
    unified = unify(len(contexts), pieces, candidates, _flags(block, contexts, view, params), idents, fallback())
    if unified is None:
        return None
    return Plan(block, list(contexts), view, unified, emitted, raws)


def _probed(
    plan: Plan, emit: Emit, idents: Mapping[str, str], params: Mapping[str, str], fallback: Callable[[], Namespace], uses: Uses
) -> Plan:
    """The plan with probe contexts added where they name more of its values after exposed parameters and add no others.

    An exposed parameter whose probe would need such others is not named after where its
    value is the same everywhere: the class would take it but not follow it.
    """
    first, refused = plan.contexts[0], set()
    for exposed in plan.block.exposed:
        if not exposed.binds:
            continue
        for value in _probe_values(first.values[exposed.name]):
            probe = uses.probe(first, exposed.name, value)
            if probe is None:
                continue
            found = _attempt(plan.block, [*plan.contexts, probe], emit, idents, params, fallback)
            if found is not None and found.unified.fallbacks <= plan.unified.fallbacks and found.view == plan.view:
                plan = found
            else:
                refused.add(exposed.name)
            break
    if refused:
        again = _attempt(plan.block, plan.contexts, emit, idents, params, fallback, frozenset(refused))
        plan = again if again is not None else plan
    return plan


def _probe_values(value: Any) -> list[Any]:
    """Other values to try an exposed parameter at: doubled first, which keeps most divisibility rules."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [v for v in (2 * value, value + 1, value - 1) if v > 0 and v != value]
    if isinstance(value, float):
        return [value / 2] if value else [0.5]
    if isinstance(value, tuple) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [tuple(2 * v if v else 1 for v in value), tuple(v + 1 for v in value)]
    return []


def _candidates(block: Block, contexts: list[Context], params: Mapping[str, str], refused: frozenset[str]) -> list[Candidate]:
    """The exposed parameters in the block's order, then each input's channels and features."""
    found = []
    for rank, exposed in enumerate(block.exposed):
        if exposed.binds:
            values = tuple(c.values[exposed.name] for c in contexts)
            binds = () if exposed.name in refused else exposed.binds
            found.append(Candidate(params[exposed.name], values, rank, exposed.default, exposed=True, binds=binds))
    inputs = block.input_ids()
    for index, node_id in enumerate(inputs):
        shapes = [c.shapes[index] for c in contexts]
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            continue
        rank = ranks.pop()
        if rank >= 3:
            found.append(Candidate(params[f"{node_id}:channels"], tuple(s[1] for s in shapes), -1000 + 2 * index))
        if rank in (2, 3):
            found.append(Candidate(params[f"{node_id}:features"], tuple(s[-1] for s in shapes), -999 + 2 * index))
    return found


def _flags(block: Block, contexts: list[Context], view: View, params: Mapping[str, str]) -> list[Candidate]:
    ranks = {e.name: i for i, e in enumerate(block.exposed)}
    found = []
    for name in view.varying:
        exposed = block.exposed[ranks[name]]
        values = tuple(bool(c.values[name]) for c in contexts)
        found.append(Candidate(params[name], values, ranks[name], bool(exposed.default), exposed=True))
    return found


def param_names(block: Block, names: Namespace, idents: Mapping[str, str]) -> dict[str, str]:
    """Identifiers for the class parameters a block may need: each exposed one, and each input's channels and features."""
    found = {e.name: names.identifier(e.name) for e in block.exposed}
    inputs = block.input_ids()
    for node_id in inputs:
        stem = "in" if len(inputs) == 1 else idents[node_id]
        found[f"{node_id}:channels"] = names.identifier(f"{stem}_channels")
        found[f"{node_id}:features"] = names.identifier(f"{stem}_features")
    return found


def _split(contexts: list[Context], key: Callable[[Context], Any]) -> list[list[Context]]:
    groups: dict[Any, list[Context]] = {}
    for context in contexts:
        groups.setdefault(key(context), []).append(context)
    return list(groups.values())


def _signature(found: tuple[dict[str, Piece | None], dict[str, Any]] | None) -> Any:
    """What must agree for contexts to share a class without filling anything in: the code with its values left out."""
    if found is None:
        return None
    row, _ = found
    return tuple((layer, None if p is None else (p.fixed, tuple(_shape(t) for t in p.calls))) for layer, p in sorted(row.items()))


def _shape(item: Any) -> Any:
    if isinstance(item, Template):
        return (item.func, tuple((key, _shape(value)) for key, value in item.args))
    return None if isinstance(item, str) and is_value(item) else item  # values may differ, code may not


def code_order(graph: Graph, skip: set[str], together: Mapping[str, Any]) -> list[str]:
    """The inner layers in an order to write them: as the user added them where the data allows, a flag's layers together."""
    position = {node_id: i for i, node_id in enumerate(graph.nodes)}
    waiting = {n: {e.src for e in graph.in_edges(n)} for n in graph.nodes}
    done: list[str] = []
    ready = sorted((n for n, w in waiting.items() if not w), key=position.__getitem__)
    while ready:
        last = together.get(done[-1]) if done else None
        same = [n for n in ready if last is not None and together.get(n) == last]
        node_id = same[0] if same else ready[0]
        ready.remove(node_id)
        done.append(node_id)
        for edge in graph.out_edges(node_id):
            waiting[edge.dst].discard(node_id)
            if not waiting[edge.dst] and edge.dst not in done and edge.dst not in ready:
                ready.append(edge.dst)
        ready.sort(key=position.__getitem__)
    done += [n for n in graph.nodes if n not in done]  # a cycle: the analysis refused it already
    return [n for n in done if n not in skip]


def runs_of(flags: Mapping[str, tuple[str, ...]], order: list[str]) -> list[tuple[tuple[str, ...], list[str]]]:
    """`order` cut into runs of layers behind the same flags (an empty tuple: always run)."""
    found: list[tuple[tuple[str, ...], list[str]]] = []
    for node_id in order:
        condition = flags.get(node_id, ())
        if found and found[-1][0] == condition:
            found[-1][1].append(node_id)
        else:
            found.append((condition, [node_id]))
    return found


def passed_through(graph: Graph, view: View, run: list[str], live: set[str]) -> list[tuple[str, Source | None]]:
    """For layers behind a flag that is off: each one read after them, and what it is then (what fed the first of them)."""
    inside = frozenset(run)
    found = []
    for node_id in run:
        if node_id not in live:
            continue
        readers = [e.dst for e in graph.out_edges(node_id)]
        if any(r not in inside and r not in view.off for r in readers):
            node = graph.nodes[node_id]
            ports = node.spec.input_ports(node.params)
            edge = graph.source_of(node_id, ports[0].name) if ports else None
            found.append((node_id, view.source(graph, edge.src, edge.src_port, inside) if edge is not None else None))
    return found
