"""The graph model: every operation, its typed error, its one event, and its inverse.

Each operation must change the graph and then emit exactly one past-tense event; a failed
operation raises a `GraphError` subclass, emits nothing and leaves the graph as it was.
Symmetric pairs (add/remove, connect/disconnect, set_param/set_param, rename, move) undo
each other exactly, checked by hand below and by a hypothesis state machine at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from studio.graph import CATALOGUE, Edge, Graph, GraphError, Node
from studio.graph.model import (
    MAX_NAME_LENGTH,
    EdgeAdded,
    EdgeError,
    EdgeRemoved,
    Event,
    InvalidParameterError,
    NodeAdded,
    NodeMoved,
    NodeNameError,
    NodeRemoved,
    NodeRenamed,
    ParamChanged,
    PortError,
    UnknownLayerTypeError,
    UnknownNodeError,
)

CORE = ("Input", "Output", "Identity", "Linear", "Flatten", "Reshape", "Permute", "Dropout")


# ----- helpers -----
class Recorder:
    """Collects the events a graph emits, and what the graph looked like when each arrived."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.events: list[Event] = []
        self.seen: list[Snapshot] = []
        graph.subscribe(self)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.seen.append(snapshot(self.graph))

    def take(self) -> list[Event]:
        events, self.events, self.seen = self.events, [], []
        return events


Snapshot = tuple[dict[str, Node], list[Edge], dict[str, str]]


def snapshot(graph: Graph) -> Snapshot:
    """Everything a graph holds, as independent values: nodes by id, sorted edges, names."""
    nodes = {node_id: node.copy() for node_id, node in graph.nodes.items()}
    names = {node.name: node_id for node_id, node in graph.nodes.items()}
    return nodes, sorted(graph.edges), names


@pytest.fixture
def graph() -> Graph:
    return Graph()


@pytest.fixture
def rec(graph: Graph) -> Recorder:
    return Recorder(graph)


def chain(graph: Graph) -> tuple[Node, Node, Node, Node]:
    """Input (1, 8) -> Linear 'fc' -> Dropout 'drop' -> Output 'out', ids n1..n4."""
    inp = graph.add_node("Input", "in", {"shape": (8,)})
    fc = graph.add_node("Linear", "fc", {"out_features": 4})
    drop = graph.add_node("Dropout", "drop")
    out = graph.add_node("Output", "out")
    graph.connect(inp.id, "out", fc.id, "in")
    graph.connect(fc.id, "out", drop.id, "in")
    graph.connect(drop.id, "out", out.id, "in")
    return inp, fc, drop, out


def fails(graph: Graph, rec: Recorder, error: type[Exception], op: Callable[[], Any], match: str | None = None) -> None:
    """Run `op`, expect `error`, and check that the graph neither changed nor spoke."""
    before = snapshot(graph)
    order = list(graph.nodes)
    rec.take()
    with pytest.raises(error, match=match):
        op()
    assert rec.take() == []
    assert snapshot(graph) == before
    assert list(graph.nodes) == order


def one_event(rec: Recorder) -> Event:
    """The single event the last operation emitted."""
    events = rec.take()
    assert len(events) == 1, events
    return events[0]


# ----- add_node -----
def test_add_node_uses_defaults_overridden_by_params(graph: Graph, rec: Recorder) -> None:
    node = graph.add_node("Linear", "fc", {"out_features": 10}, (1, 2))
    assert node.id == "n1"
    assert node.params == {"out_features": 10, "bias": True}
    assert node.position == (1.0, 2.0)
    assert graph.node("n1") is node and "n1" in graph and len(graph) == 1
    assert graph.node_by_name("fc") is node
    event = one_event(rec)
    assert event == NodeAdded(node)
    assert event.node is not node, "the event must carry a copy, not the live node"


def test_add_node_stores_parameters_in_canonical_form(graph: Graph) -> None:
    node = graph.add_node("Input", params={"shape": [3, 4.0]})
    assert node.params["shape"] == (3, 4)
    assert graph.add_node("Linear", params={"out_features": 7.0}).params["out_features"] == 7


def test_add_node_gives_unique_default_names_and_ids(graph: Graph) -> None:
    nodes = [graph.add_node("Linear") for _ in range(3)]
    assert [n.name for n in nodes] == ["linear1", "linear2", "linear3"]
    assert [n.id for n in nodes] == ["n1", "n2", "n3"]
    assert graph.add_node("Dropout", node_id="custom.id-1:x").id == "custom.id-1:x"
    assert graph.add_node("Dropout").name == "dropout2"


def test_event_arrives_after_the_change(graph: Graph, rec: Recorder) -> None:
    inp, fc, _, _ = chain(graph)
    graph.set_param(fc.id, "out_features", 9)
    graph.rename(fc.id, "dense")
    graph.remove_node(inp.id)
    nodes = rec.seen[-3][0]
    assert nodes[fc.id].params["out_features"] == 9
    assert "dense" in rec.seen[-2][2] and "fc" not in rec.seen[-2][2]
    assert inp.id not in rec.seen[-1][0]
    assert all(inp.id not in (e.src, e.dst) for e in rec.seen[-1][1])


def test_add_node_rejects_an_unknown_layer_type(graph: Graph, rec: Recorder) -> None:
    fails(graph, rec, UnknownLayerTypeError, lambda: graph.add_node("Conv9d"), "Conv9d")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"out_features": 0}, "out_features"),
        ({"out_features": "ten"}, "out_features"),
        ({"out_features": True}, "out_features"),
        ({"out_features": 2.5}, "out_features"),
        ({"bias": 1}, "bias"),
        ({"in_features": 8}, "no parameter 'in_features'"),
    ],
)
def test_add_node_rejects_bad_parameters(graph: Graph, rec: Recorder, params: dict, match: str) -> None:
    graph.add_node("Input")
    fails(graph, rec, InvalidParameterError, lambda: graph.add_node("Linear", "fc", params), match)


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_NAME_LENGTH + 1), "taken", 42])
def test_add_node_rejects_bad_names(graph: Graph, rec: Recorder, name: Any) -> None:
    graph.add_node("Input", "taken")
    fails(graph, rec, NodeNameError, lambda: graph.add_node("Linear", name))


@pytest.mark.parametrize("node_id", ["", "has space", "x" * 256, "n1", 7, "ünïcode", "a/b"])
def test_add_node_rejects_bad_or_duplicate_ids(graph: Graph, rec: Recorder, node_id: Any) -> None:
    graph.add_node("Input")
    fails(graph, rec, GraphError, lambda: graph.add_node("Linear", "fc", node_id=node_id))


@pytest.mark.parametrize("position", [None, "ab", (1,), (1, 2, 3), (math.nan, 0), (0, math.inf), (2e9, 0)])
def test_add_node_rejects_bad_positions(graph: Graph, rec: Recorder, position: Any) -> None:
    fails(graph, rec, GraphError, lambda: graph.add_node("Linear", "fc", position=position), "position")


def test_a_failed_add_does_not_use_up_the_name(graph: Graph) -> None:
    with pytest.raises(InvalidParameterError):
        graph.add_node("Linear", "fc", {"out_features": -1})
    assert graph.add_node("Linear", "fc").name == "fc"


# ----- remove_node / restore_node -----
def test_remove_node_takes_its_edges_and_frees_its_name(graph: Graph, rec: Recorder) -> None:
    inp, fc, drop, _ = chain(graph)
    rec.take()
    removed = graph.remove_node(fc.id)
    assert removed is fc
    assert fc.id not in graph and graph.node_by_name("fc") is None
    assert all(fc.id not in (e.src, e.dst) for e in graph.edges)
    event = one_event(rec)
    assert isinstance(event, NodeRemoved) and event.node == fc
    assert sorted(event.edges) == sorted([Edge(inp.id, "out", fc.id, "in"), Edge(fc.id, "out", drop.id, "in")])
    assert graph.add_node("Identity", "fc").name == "fc"


def test_remove_node_rejects_an_unknown_id(graph: Graph, rec: Recorder) -> None:
    chain(graph)
    fails(graph, rec, UnknownNodeError, lambda: graph.remove_node("n99"), "n99")
    with pytest.raises(KeyError):
        graph.node("n99")


def test_restore_node_undoes_remove_node_exactly(graph: Graph) -> None:
    inp, fc, drop, _ = chain(graph)
    graph.move(fc.id, (10, 20))
    graph.set_param(fc.id, "bias", False)
    before = snapshot(graph)
    removed = graph.remove_node(fc.id)
    rec = Recorder(graph)
    graph.restore_node(removed, [Edge(inp.id, "out", fc.id, "in"), Edge(fc.id, "out", drop.id, "in")])
    assert snapshot(graph) == before
    events = rec.take()
    assert events[0] == NodeAdded(fc)
    assert [type(e) for e in events[1:]] == [EdgeAdded, EdgeAdded]


def test_restore_node_from_the_event_gives_back_the_same_graph(graph: Graph) -> None:
    _, fc, _, _ = chain(graph)
    side = graph.add_node("Identity", "side")
    graph.connect(fc.id, "out", side.id, "in")  # fan-out: one output feeds two inputs
    graph.set_param(fc.id, "bias", False)
    before = snapshot(graph)
    rec = Recorder(graph)
    graph.remove_node(fc.id)
    event = one_event(rec)
    assert isinstance(event, NodeRemoved) and len(event.edges) == 3
    order = list(graph.nodes)
    graph.restore_node(event.node, event.edges, event.index)
    assert snapshot(graph) == before
    assert list(graph.nodes) == order[: event.index] + [fc.id] + order[event.index :], "node order is restored"


def test_remove_and_restore_a_node_with_a_self_loop(graph: Graph) -> None:
    loop = graph.add_node("Identity", "loop")
    graph.connect(loop.id, "out", loop.id, "in")
    before = snapshot(graph)
    rec = Recorder(graph)
    graph.remove_node(loop.id)
    event = one_event(rec)
    assert isinstance(event, NodeRemoved)
    assert event.edges == (Edge(loop.id, "out", loop.id, "in"),), "a self-loop is one edge, listed once"
    graph.restore_node(event.node, event.edges)
    assert snapshot(graph) == before


def test_restore_node_of_a_taken_id_fails_cleanly(graph: Graph, rec: Recorder) -> None:
    _, fc, _, _ = chain(graph)
    fails(graph, rec, GraphError, lambda: graph.restore_node(Node(fc.id, "Linear", "other", {"out_features": 3, "bias": True})))


# ----- connect / disconnect -----
def test_connect_and_disconnect_undo_each_other(graph: Graph, rec: Recorder) -> None:
    inp = graph.add_node("Input")
    flat = graph.add_node("Flatten")
    before = snapshot(graph)
    rec.take()
    edge = graph.connect(inp.id, "out", flat.id, "in")
    assert edge == Edge(inp.id, "out", flat.id, "in")
    assert one_event(rec) == EdgeAdded(edge)
    assert graph.edges == [edge] and graph.in_edges(flat.id) == [edge] and graph.out_edges(inp.id) == [edge]
    assert graph.source_of(flat.id, "in") == edge and graph.source_of(inp.id, "in") is None
    assert list(graph.successors(inp.id)) == [flat.id]
    graph.disconnect(edge)
    assert one_event(rec) == EdgeRemoved(edge)
    assert snapshot(graph) == before


def test_one_output_may_feed_many_inputs(graph: Graph) -> None:
    inp = graph.add_node("Input")
    a, b = graph.add_node("Identity"), graph.add_node("Flatten")
    graph.connect(inp.id, "out", a.id, "in")
    graph.connect(inp.id, "out", b.id, "in")
    assert sorted(graph.successors(inp.id)) == sorted([a.id, b.id])
    assert graph.descendants([inp.id]) == {a.id, b.id}


def test_connect_rejects_unknown_nodes(graph: Graph, rec: Recorder) -> None:
    inp = graph.add_node("Input")
    fails(graph, rec, UnknownNodeError, lambda: graph.connect("n9", "out", inp.id, "in"))
    fails(graph, rec, UnknownNodeError, lambda: graph.connect(inp.id, "out", "n9", "in"))


def test_connect_rejects_ports_that_do_not_exist(graph: Graph, rec: Recorder) -> None:
    inp, fc, _, out = chain(graph)
    other = graph.add_node("Identity", "other")
    fails(graph, rec, PortError, lambda: graph.connect(fc.id, "output", other.id, "in"), "no output port 'output'")
    fails(graph, rec, PortError, lambda: graph.connect(fc.id, "out", other.id, "x"), "no input port 'x'")
    fails(graph, rec, PortError, lambda: graph.connect(other.id, "out", inp.id, "in"), "Input 'in' has no input port")
    fails(graph, rec, PortError, lambda: graph.connect(out.id, "out", other.id, "in"), "Output 'out' has no output port")


def test_connect_rejects_an_input_that_is_already_fed(graph: Graph, rec: Recorder) -> None:
    inp, fc, _, _ = chain(graph)
    other = graph.add_node("Input", "other")
    fails(graph, rec, PortError, lambda: graph.connect(other.id, "out", fc.id, "in"), "already fed by 'in'")
    fails(graph, rec, EdgeError, lambda: graph.connect(inp.id, "out", fc.id, "in"), "already connected")


def test_disconnect_rejects_an_edge_that_does_not_exist(graph: Graph, rec: Recorder) -> None:
    inp, fc, drop, _ = chain(graph)
    fails(graph, rec, EdgeError, lambda: graph.disconnect(Edge(inp.id, "out", drop.id, "in")))
    fails(graph, rec, EdgeError, lambda: graph.disconnect(Edge("n77", "out", fc.id, "in")))
    fails(graph, rec, EdgeError, lambda: graph.disconnect(Edge(inp.id, "out", fc.id, "other")))
    edge = graph.source_of(fc.id, "in")
    graph.disconnect(edge)
    fails(graph, rec, EdgeError, lambda: graph.disconnect(edge))


def test_cycles_and_self_loops_are_allowed_while_editing(graph: Graph) -> None:
    a, b = graph.add_node("Identity", "a"), graph.add_node("Identity", "b")
    graph.connect(a.id, "out", b.id, "in")
    graph.connect(b.id, "out", a.id, "in")
    c = graph.add_node("Identity", "c")
    graph.connect(c.id, "out", c.id, "in")
    assert len(graph.edges) == 3


# ----- set_param -----
def test_set_param_and_its_inverse(graph: Graph, rec: Recorder) -> None:
    _, fc, _, _ = chain(graph)
    before = snapshot(graph)
    rec.take()
    graph.set_param(fc.id, "out_features", 32.0)
    event = one_event(rec)
    assert event == ParamChanged(fc.id, "out_features", 4, 32)
    assert type(event.new) is int and graph.node(fc.id).params["out_features"] == 32
    graph.set_param(fc.id, "out_features", event.old)
    assert one_event(rec) == ParamChanged(fc.id, "out_features", 32, 4)
    assert snapshot(graph) == before


def test_set_param_to_the_same_value_emits_nothing(graph: Graph, rec: Recorder) -> None:
    inp, fc, _, _ = chain(graph)
    rec.take()
    graph.set_param(fc.id, "out_features", 4)
    graph.set_param(fc.id, "out_features", 4.0)
    graph.set_param(inp.id, "shape", [8])
    assert rec.take() == []


@pytest.mark.parametrize(
    "name, value, error, match",
    [
        ("out_features", 0, InvalidParameterError, "out_features"),
        ("out_features", None, InvalidParameterError, "out_features"),
        ("bias", "yes", InvalidParameterError, "bias"),
        ("units", 3, InvalidParameterError, "no parameter 'units'"),
    ],
)
def test_set_param_rejects_bad_values(graph: Graph, rec: Recorder, name: str, value: Any, error: type, match: str) -> None:
    _, fc, _, _ = chain(graph)
    fails(graph, rec, error, lambda: graph.set_param(fc.id, name, value), match)


def test_set_param_rejects_an_unknown_node(graph: Graph, rec: Recorder) -> None:
    chain(graph)
    fails(graph, rec, UnknownNodeError, lambda: graph.set_param("n42", "p", 0.1))


@pytest.mark.parametrize("value", [(-1, -1), (0,), (), "same"])
def test_set_param_rejects_bad_tuples(graph: Graph, rec: Recorder, value: Any) -> None:
    inp, _, _, _ = chain(graph)
    fails(graph, rec, InvalidParameterError, lambda: graph.set_param(inp.id, "shape", value), "shape")


def test_variadic_inputs_cannot_shrink_under_a_connection(graph: Graph, rec: Recorder) -> None:
    variadic = [spec for spec in CATALOGUE.values() if spec.variadic]
    if not variadic:
        pytest.skip("no variadic layer in the catalogue yet")
    spec = variadic[0]
    node = graph.add_node(spec.type, params={"num_inputs": 3})
    inp = graph.add_node("Input")
    graph.connect(inp.id, "out", node.id, "in3")
    fails(graph, rec, InvalidParameterError, lambda: graph.set_param(node.id, "num_inputs", 2), "in3")
    graph.disconnect(graph.source_of(node.id, "in3"))
    graph.set_param(node.id, "num_inputs", 2)
    assert graph.node(node.id).params["num_inputs"] == 2


def test_a_layer_of_several_pieces_has_a_port_per_piece_and_keeps_the_wired_ones(graph: Graph, rec: Recorder) -> None:
    split = graph.add_node("Split", params={"sizes": (1, 2, 3)})
    assert [p.name for p in split.spec.output_ports(split.params)] == ["out1", "out2", "out3"]
    sink = graph.add_node("Output")
    fails(graph, rec, PortError, lambda: graph.connect(split.id, "out", sink.id, "in"), "no output port 'out'")
    graph.connect(split.id, "out3", sink.id, "in")
    fails(graph, rec, InvalidParameterError, lambda: graph.set_param(split.id, "sizes", (3, 3)), "out3")
    graph.set_param(split.id, "sizes", (1, 1, 1, 3))
    chunk = graph.add_node("Chunk", params={"chunks": 3})
    graph.connect(chunk.id, "out2", graph.add_node("Output").id, "in")
    graph.set_param(chunk.id, "chunks", 2)
    assert [p.name for p in chunk.spec.output_ports(chunk.params)] == ["out1", "out2"]


# ----- rename -----
def test_rename_and_its_inverse(graph: Graph, rec: Recorder) -> None:
    _, fc, _, _ = chain(graph)
    before = snapshot(graph)
    rec.take()
    graph.rename(fc.id, "dense 1")
    assert one_event(rec) == NodeRenamed(fc.id, "fc", "dense 1")
    assert graph.node_by_name("dense 1") is fc and graph.node_by_name("fc") is None
    graph.rename(fc.id, "fc")
    assert one_event(rec) == NodeRenamed(fc.id, "dense 1", "fc")
    assert snapshot(graph) == before
    graph.rename(fc.id, "fc")
    assert rec.take() == [], "renaming to the same name is no change"


def test_a_name_is_free_again_after_a_rename(graph: Graph) -> None:
    a, b = graph.add_node("Identity", "a"), graph.add_node("Identity", "b")
    graph.rename(a.id, "c")
    graph.rename(b.id, "a")
    assert graph.node_by_name("a") is b and graph.node_by_name("c") is a


@pytest.mark.parametrize("name", ["", " \t", "x" * (MAX_NAME_LENGTH + 1), "drop", None])
def test_rename_rejects_bad_names(graph: Graph, rec: Recorder, name: Any) -> None:
    _, fc, _, _ = chain(graph)
    fails(graph, rec, NodeNameError, lambda: graph.rename(fc.id, name))


def test_rename_rejects_an_unknown_node(graph: Graph, rec: Recorder) -> None:
    chain(graph)
    fails(graph, rec, UnknownNodeError, lambda: graph.rename("zz", "x"))


# ----- move -----
def test_move_and_its_inverse(graph: Graph, rec: Recorder) -> None:
    _, fc, _, _ = chain(graph)
    before = snapshot(graph)
    rec.take()
    graph.move(fc.id, (3, -4.5))
    assert one_event(rec) == NodeMoved(fc.id, (0.0, 0.0), (3.0, -4.5))
    assert graph.node(fc.id).position == (3.0, -4.5)
    graph.move(fc.id, (0, 0))
    assert one_event(rec) == NodeMoved(fc.id, (3.0, -4.5), (0.0, 0.0))
    assert snapshot(graph) == before
    graph.move(fc.id, [0.0, 0.0])
    assert rec.take() == []


@pytest.mark.parametrize("position", [(1,), "xy", (math.nan, 1), (1, -math.inf), (0, 1e12), None])
def test_move_rejects_bad_positions(graph: Graph, rec: Recorder, position: Any) -> None:
    _, fc, _, _ = chain(graph)
    fails(graph, rec, GraphError, lambda: graph.move(fc.id, position))


def test_move_rejects_an_unknown_node(graph: Graph, rec: Recorder) -> None:
    fails(graph, rec, UnknownNodeError, lambda: graph.move("n1", (0, 0)))


# ----- listeners -----
def test_unsubscribe_stops_the_events(graph: Graph) -> None:
    seen: list[Event] = []
    graph.subscribe(seen.append)
    graph.add_node("Input")
    graph.unsubscribe(seen.append)
    graph.add_node("Output")
    assert len(seen) == 1


def test_every_typed_error_is_a_graph_error() -> None:
    for error in (UnknownNodeError, UnknownLayerTypeError, InvalidParameterError, PortError, EdgeError, NodeNameError):
        assert issubclass(error, GraphError)
    assert str(UnknownNodeError("no node with id 'x'")) == "no node with id 'x'"


# ----- random edits, undone in reverse -----
NAMES = ("a", "b", "c", "fc", "out", "linear", "x" * MAX_NAME_LENGTH, "", " ")
VALUES: dict[str, list[Any]] = {
    "shape": [(4,), (2, 3), [2, 2, 2], (-1, 4), (5, -1), (0,), "x"],
    "dtype": ["float32", "int64", "float16"],
    "out_features": [1, 3, 8, 2.0, 0, True],
    "bias": [True, False, 1],
    "p": [0.0, 0.25, 0.75, 0.99, 1.0, -0.1],
    "dims": [(1,), (1, 2), (2, 1), (3, 1, 2), (0, 1)],
    "num_inputs": [2, 3, 1],
    "sizes": [(1, 2), (1, 1, 1), (2,)],
    "chunks": [2, 3, 1],
    "nonexistent": [1],
}


def inverse(graph: Graph, event: Event) -> None:
    """Apply the operation that undoes `event`."""
    if isinstance(event, NodeAdded):
        graph.remove_node(event.node.id)
    elif isinstance(event, NodeRemoved):
        graph.restore_node(event.node, event.edges, event.index)
    elif isinstance(event, EdgeAdded):
        graph.disconnect(event.edge)
    elif isinstance(event, EdgeRemoved):
        e = event.edge
        graph.connect(e.src, e.src_port, e.dst, e.dst_port)
    elif isinstance(event, ParamChanged):
        graph.set_param(event.node_id, event.name, event.old)
    elif isinstance(event, NodeRenamed):
        graph.rename(event.node_id, event.old)
    elif isinstance(event, NodeMoved):
        graph.move(event.node_id, event.old)
    else:  # pragma: no cover - a new event kind needs an inverse here
        raise AssertionError(f"no inverse for {event!r}")  # noqa: TRY004 - a test failure


class GraphEdits(RuleBasedStateMachine):
    """Random edits, some of them invalid; replaying every event's inverse must empty the graph."""

    @initialize()
    def start(self) -> None:
        self.graph = Graph()
        self.rec = Recorder(self.graph)
        self.log: list[tuple[Event, Snapshot]] = []
        self.types = tuple(CATALOGUE)

    def attempt(self, op: Callable[[], Any], may_fail: bool = True) -> None:
        """Run one operation: on success exactly one event (or none for a no-op), on failure none."""
        before = snapshot(self.graph)
        try:
            op()
        except GraphError:
            assert may_fail
            assert self.rec.take() == []
            assert snapshot(self.graph) == before
            return
        events = self.rec.take()
        assert len(events) <= 1, events
        if events:
            assert snapshot(self.graph) != before
            self.log.append((events[0], before))
        else:
            assert snapshot(self.graph) == before

    def some_node(self, data: st.DataObject, having: Callable[[Node], bool] = lambda node: True) -> str:
        """Mostly an existing node (one `having` something, if any), now and then a missing id."""
        nodes = [n.id for n in self.graph.nodes.values() if having(n)] or list(self.graph.nodes)
        return data.draw(st.sampled_from(nodes) if data.draw(st.integers(0, 9)) else st.just("missing"))

    @staticmethod
    def mostly(data: st.DataObject, good: list[Any], bad: Any) -> Any:
        """One of `good` nine times in ten (when there is one), else `bad`."""
        return data.draw(st.sampled_from(good)) if good and data.draw(st.integers(0, 9)) else bad

    @rule(data=st.data())
    def add_node(self, data: st.DataObject) -> None:
        layer_type = data.draw(st.sampled_from([*self.types, "NoSuchLayer"]))
        name = data.draw(st.none() | st.sampled_from(NAMES))
        spec_params = [p.name for p in CATALOGUE[layer_type].params] if layer_type in CATALOGUE else []
        keys = data.draw(st.lists(st.sampled_from([*spec_params, "nonexistent"]), max_size=2, unique=True))
        params = {k: data.draw(st.sampled_from(VALUES.get(k, [None]))) for k in keys}
        node_id = data.draw(st.sampled_from([None, None, None, "n1", "k", "bad id"]))
        self.attempt(lambda: self.graph.add_node(layer_type, name, params, node_id=node_id))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def remove_node(self, data: st.DataObject) -> None:
        node_id = self.some_node(data)
        self.attempt(lambda: self.graph.remove_node(node_id))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def connect(self, data: st.DataObject) -> None:
        src = self.some_node(data, lambda node: bool(node.spec.output_ports(node.params)))
        dst = self.some_node(data, lambda node: bool(node.spec.input_ports(node.params)))
        src_node = self.graph.nodes.get(src)
        src_ports = [p.name for p in src_node.spec.output_ports(src_node.params)] if src_node else []
        dst_node = self.graph.nodes.get(dst)
        dst_ports = [p.name for p in dst_node.spec.input_ports(dst_node.params)] if dst_node else []
        src_port = self.mostly(data, src_ports, "bogus")
        dst_port = self.mostly(data, dst_ports, "bogus")
        self.attempt(lambda: self.graph.connect(src, src_port, dst, dst_port))

    @precondition(lambda self: bool(self.graph.edges))
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        edge = data.draw(st.sampled_from(self.graph.edges))
        if not data.draw(st.integers(0, 9)):
            edge = Edge(edge.src, edge.src_port, edge.dst, "in9")
        self.attempt(lambda: self.graph.disconnect(edge))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def set_param(self, data: st.DataObject) -> None:
        node_id = self.some_node(data, lambda node: bool(node.params))
        names = list(self.graph.node(node_id).params) if node_id in self.graph else []
        name = self.mostly(data, names, "nonexistent")
        value = data.draw(st.sampled_from(VALUES.get(name, [0])))
        self.attempt(lambda: self.graph.set_param(node_id, name, value))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def rename(self, data: st.DataObject) -> None:
        node_id = self.some_node(data)
        name = data.draw(st.sampled_from(NAMES))
        self.attempt(lambda: self.graph.rename(node_id, name))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data(), x=st.sampled_from([0, 1.5, -3, 1e10, math.nan]), y=st.sampled_from([0, 2]))
    def move(self, data: st.DataObject, x: float, y: float) -> None:
        node_id = self.some_node(data)
        self.attempt(lambda: self.graph.move(node_id, (x, y)))

    @invariant()
    def names_are_unique_and_indexed(self) -> None:
        names = [node.name for node in self.graph.nodes.values()]
        assert len(names) == len(set(names))
        for node_id, node in self.graph.nodes.items():
            assert node.id == node_id
            assert self.graph.node_by_name(node.name) is node
            assert node.name.strip() and len(node.name) <= MAX_NAME_LENGTH

    @invariant()
    def edges_are_sound(self) -> None:
        fed: set[tuple[str, str]] = set()
        for edge in self.graph.edges:
            assert edge.src in self.graph and edge.dst in self.graph
            src, dst = self.graph.node(edge.src), self.graph.node(edge.dst)
            assert edge.src_port in {p.name for p in src.spec.output_ports(src.params)}
            assert edge.dst_port in {p.name for p in dst.spec.input_ports(dst.params)}
            assert (edge.dst, edge.dst_port) not in fed, f"input {edge.dst_port} of {edge.dst} fed twice"
            fed.add((edge.dst, edge.dst_port))

    @invariant()
    def parameters_are_valid(self) -> None:
        for node in self.graph.nodes.values():
            assert set(node.params) == {p.name for p in node.spec.params}
            for param in node.spec.params:
                assert param.validate(node.params[param.name]) == node.params[param.name]

    def teardown(self) -> None:
        if not hasattr(self, "graph"):
            return
        self.graph.unsubscribe(self.rec)
        for event, before in reversed(self.log):
            inverse(self.graph, event)
            assert snapshot(self.graph) == before, f"undoing {event} did not restore the graph"
        assert len(self.graph) == 0 and self.graph.edges == []


TestGraphEdits = GraphEdits.TestCase


def test_a_deleted_nodes_id_is_never_handed_out_again(graph: Graph) -> None:
    first = graph.add_node("Identity")
    last = graph.add_node("Identity")
    graph.remove_node(last.id)
    assert graph.add_node("Identity").id not in {first.id, last.id}
