"""Shape analysis: messages users read, graph-level checks, totals, and incrementality.

The live analysis follows the graph's events and recomputes only what an edit can change.
Its answers are proven here against a from-scratch analysis after every random edit, and
the work it does is checked: a parameter edit that keeps shapes recomputes one node, one
that changes them recomputes exactly the downstream nodes whose inputs changed.
"""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from studio.graph import CATALOGUE, Graph, ShapeAnalysis, analyse
from studio.graph.catalogue.base import (
    SHARED,
    Folded,
    LayerSpec,
    Port,
    ShapeError,
    StateTensor,
    join_batches,
    need_rank,
    numel,
    show,
    targets,
)
from studio.graph.model import GraphError, Node


# ----- helpers -----
def build(graph: Graph, *chain: tuple[str, str, dict[str, Any]]) -> list[Node]:
    """Add (type, name, params) nodes and connect each to the next; return them."""
    nodes = [graph.add_node(layer_type, name, params) for layer_type, name, params in chain]
    for a, b in itertools.pairwise(nodes):
        graph.connect(a.id, "out", b.id, "in")
    return nodes


def texts(analysis: ShapeAnalysis) -> list[str]:
    """Every diagnostic as the sentence a user reads."""
    return [d.text for d in analysis.diagnostics()]


def fresh(graph: Graph) -> ShapeAnalysis:
    """A from-scratch analysis that stops following the graph at once."""
    analysis = analyse(graph)
    analysis.close()
    return analysis


def lenet_tail(graph: Graph) -> list[Node]:
    """Input (16, 5, 5) -> Linear 'fc1' (120) -> Linear 'fc2' (10) -> Output: the issue's example."""
    return build(
        graph,
        ("Input", "features", {"shape": (16, 5, 5)}),
        ("Linear", "fc1", {"out_features": 120}),
        ("Linear", "fc2", {"out_features": 10}),
        ("Output", "logits", {}),
    )


@pytest.fixture
def graph() -> Graph:
    return Graph()


def _pair(p: dict, ins: list) -> list:
    a, b = ins
    if b is not None and a != b:
        raise ShapeError(f"needs inputs of one shape but gets {show(a)} and {show(b)}", "make both inputs the same shape")
    return [a]


PAIR = LayerSpec(
    type="TestPair",
    category="Test",
    doc="Test only: a two-input layer (the second optional), like an Add, from core layers alone.",
    params=(),
    infer=_pair,
    targets=targets("x", "x", "x", "x"),
    inputs=(Port("in"), Port("extra", optional=True)),
    input_dtype="any",
    output_dtype="same",
)


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the two-input test layer for one test."""
    monkeypatch.setitem(CATALOGUE, PAIR.type, PAIR)
    return PAIR.type


# ----- what a user reads -----
def test_the_issue_example_message(graph: Graph) -> None:
    inp, fc1, _fc2, _out = lenet_tail(graph)
    analysis = analyse(graph)
    assert texts(analysis) == [
        ("Linear 'fc1' needs a 2-D input (N, features) or a sequence (N, T, features) but gets (N, 16, 5, 5): "
        "insert a Flatten before it")
    ]
    (diag,) = analysis.diagnostics()
    assert diag.node_id == fc1.id and diag.severity == "error"
    assert analysis.result(inp.id).outputs == {"out": (None, 16, 5, 5)}
    assert analysis.result(fc1.id).inputs == ((None, 16, 5, 5),)
    assert not analysis.is_valid


def test_inserting_the_flatten_fixes_it(graph: Graph) -> None:
    inp, fc1, fc2, out = lenet_tail(graph)
    analysis = analyse(graph)
    graph.disconnect(graph.source_of(fc1.id, "in"))
    flat = graph.add_node("Flatten", "flatten")
    graph.connect(inp.id, "out", flat.id, "in")
    graph.connect(flat.id, "out", fc1.id, "in")
    assert analysis.diagnostics() == []
    assert analysis.is_valid
    assert analysis.result(flat.id).outputs == {"out": (None, 400)}
    assert analysis.result(fc1.id).outputs == {"out": (None, 120)}
    assert analysis.result(fc2.id).outputs == {"out": (None, 10)}
    assert analysis.result(out.id).outputs == {}
    assert analysis.result(out.id).inputs == ((None, 10),)
    assert analysis.ordered_ids() == [inp.id, flat.id, fc1.id, fc2.id, out.id]


def test_sequences_go_through_linear_on_the_last_dimension(graph: Graph) -> None:
    nodes = build(graph, ("Input", "tokens", {"shape": (7, 12)}), ("Linear", "proj", {"out_features": 5}), ("Output", "o", {}))
    analysis = analyse(graph)
    assert analysis.result(nodes[1].id).outputs == {"out": (None, 7, 5)}
    assert analysis.result(nodes[1].id).params == 12 * 5 + 5
    assert analysis.result(nodes[1].id).macs == 7 * 5 * 12


def test_reshape_and_permute_explain_themselves(graph: Graph) -> None:
    _inp, reshape, permute, _out = build(
        graph,
        ("Input", "x", {"shape": (6, 4)}),
        ("Reshape", "r", {"shape": (5, -1)}),
        ("Permute", "p", {"dims": (2, 1)}),
        ("Output", "o", {}),
    )
    analysis = analyse(graph)
    assert texts(analysis) == [
        ("Reshape 'r' cannot reshape (N, 6, 4) (24 values per sample) to (5, -1): 24 is not divisible by 5: "
        "choose sizes whose product divides the input size")
    ]
    graph.set_param(reshape.id, "shape", (3, -1))
    assert texts(analysis) == []
    assert analysis.result(permute.id).outputs == {"out": (None, 8, 3)}
    graph.set_param(permute.id, "dims", (1, 2, 3))
    assert texts(analysis) == [
        ("Permute 'p' has dims (1, 2, 3) but its input (N, 3, 8) has 2 non-batch dimensions: "
        "list each of 1, 2 once (the batch dimension stays first)")
    ]


# ----- cycles -----
def test_a_cycle_is_a_diagnostic_naming_it(graph: Graph) -> None:
    inp, a, b, out = build(graph, ("Input", "x", {"shape": (4,)}), ("Identity", "a", {}), ("Identity", "b", {}), ("Output", "o", {}))
    analysis = analyse(graph)
    assert analysis.is_valid
    back = graph.add_node("Identity", "back")
    graph.connect(b.id, "out", back.id, "in")
    graph.disconnect(graph.source_of(a.id, "in"))
    graph.connect(back.id, "out", a.id, "in")  # a -> b -> back -> a, b also feeds the Output
    hint = ": a network must flow one way: remove one of these connections"
    assert texts(analysis) == [
        "Input 'x' output is not used: connect it to another layer or an Output",
        "Identity 'a' is part of a cycle ('a' → 'b' → 'back' → 'a')" + hint,
    ]
    by_node = {d.node_id: d for d in analysis.diagnostics()}
    assert set(by_node) == {a.id, inp.id}, "one problem, on the cycle's first node; the Output below gets no cascade"
    assert analysis.result(b.id).outputs is None and analysis.result(back.id).outputs is None
    assert analysis.result(out.id).outputs is None
    assert analysis.result(out.id).diagnostics == ()
    assert analysis.summary().errors == 1
    assert analysis.results() == fresh(graph).results()
    graph.disconnect(graph.source_of(a.id, "in"))
    graph.connect(inp.id, "out", a.id, "in")
    assert texts(analysis) == ["Identity 'back' output is not used: connect it to another layer or an Output"]
    assert analysis.result(out.id).inputs == ((None, 4),)


def test_cycle_messages_in_order(graph: Graph) -> None:
    a, b = build(graph, ("Identity", "a", {}), ("Identity", "b", {}))
    graph.connect(b.id, "out", a.id, "in")
    analysis = analyse(graph)
    hint = ": a network must flow one way: remove one of these connections"
    assert texts(analysis) == [
        "The network has no Input layer: add an Input and connect it to the first layer",
        "The network has no Output layer: connect an Output to the tensor the model should return",
        "Identity 'a' is part of a cycle ('a' → 'b' → 'a')" + hint,
    ]
    graph.rename(b.id, "bee")
    assert texts(analysis)[2:] == ["Identity 'a' is part of a cycle ('a' → 'bee' → 'a')" + hint]
    graph.rename(a.id, "ay")
    assert texts(analysis)[2:] == ["Identity 'ay' is part of a cycle ('ay' → 'bee' → 'ay')" + hint]


def test_a_self_loop_is_a_cycle_and_removing_it_clears_it(graph: Graph) -> None:
    inp, loop, out = build(graph, ("Input", "x", {"shape": (3,)}), ("Identity", "loop", {}), ("Output", "o", {}))
    analysis = analyse(graph)
    graph.disconnect(graph.source_of(loop.id, "in"))
    self_edge = graph.connect(loop.id, "out", loop.id, "in")
    diags = [d for d in analysis.diagnostics() if d.node_id == loop.id]
    assert [d.text for d in diags] == [
        "Identity 'loop' is part of a cycle ('loop' → 'loop'): a network must flow one way: remove one of these connections"
    ]
    assert analysis.result(out.id).diagnostics == ()
    graph.disconnect(self_edge)
    assert [d.text for d in analysis.diagnostics() if d.node_id == loop.id] == [
        "Identity 'loop' has no input connected: connect a layer's output to it"
    ]
    graph.connect(inp.id, "out", loop.id, "in")
    assert analysis.diagnostics() == []


def test_removing_a_node_of_the_cycle_clears_it(graph: Graph) -> None:
    a, b, c = build(graph, ("Identity", "a", {}), ("Identity", "b", {}), ("Identity", "c", {}))
    graph.connect(c.id, "out", a.id, "in")
    analysis = analyse(graph)
    assert sum("cycle" in t for t in texts(analysis)) == 1
    graph.remove_node(b.id)
    assert not any("cycle" in t for t in texts(analysis))
    assert analysis.results() == fresh(graph).results()


def test_a_chord_shortens_the_cycle_named(graph: Graph, pair: str) -> None:
    a = graph.add_node(pair, "a")
    b, c, d = (graph.add_node("Identity", name) for name in "bcd")
    for x, y in ((a, b), (b, c), (c, d), (d, a)):
        graph.connect(x.id, "out", y.id, "in")
    analysis = analyse(graph)
    assert analysis.result(a.id).diagnostics[0].message.endswith("('a' → 'b' → 'c' → 'd' → 'a')")
    assert analysis.result(b.id).diagnostics == ()
    graph.connect(c.id, "out", a.id, "extra")
    assert analysis.result(a.id).diagnostics[0].message.endswith("('a' → 'b' → 'c' → 'a'), one of 4 layers tied into cycles here")
    assert analysis.diagnostics() == fresh(graph).diagnostics()


def test_a_cycle_never_raises_in_any_query(graph: Graph) -> None:
    nodes = build(graph, ("Input", "x", {"shape": (3,)}), ("Linear", "l1", {}), ("Linear", "l2", {}))
    graph.disconnect(graph.source_of(nodes[1].id, "in"))
    graph.connect(nodes[2].id, "out", nodes[1].id, "in")
    analysis = analyse(graph)
    analysis.summary()
    analysis.results()
    assert len(analysis.ordered_ids()) == 3
    assert not analysis.is_valid


# ----- inputs, dtypes, graph-level -----
def test_unconnected_required_inputs(graph: Graph) -> None:
    build(graph, ("Input", "x", {"shape": (3,)}), ("Output", "o", {}))
    fc = graph.add_node("Linear", "fc")
    out2 = graph.add_node("Output", "o2")
    analysis = analyse(graph)
    by_node = {d.node_id: d.text for d in analysis.diagnostics()}
    assert by_node == {
        fc.id: "Linear 'fc' has no input connected: connect a layer's output to it",
        out2.id: "Output 'o2' has no input connected: connect a layer's output to it",
    }
    assert analysis.result(fc.id).outputs is None and analysis.result(fc.id).params == 0


def test_an_int64_input_into_linear_is_a_dtype_error(graph: Graph) -> None:
    inp, flat, fc, out = build(
        graph,
        ("Input", "ids", {"shape": (4, 4), "dtype": "int64"}),
        ("Flatten", "flat", {}),
        ("Linear", "fc", {"out_features": 3}),
        ("Output", "o", {}),
    )
    analysis = analyse(graph)
    assert analysis.result(flat.id).dtype == "int64", "Flatten keeps the dtype it gets"
    assert texts(analysis) == [
        ("Linear 'fc' needs floating-point input but gets int64 token ids: "
        "put an Embedding before it, or set the Input's dtype to float32")
    ]
    assert analysis.result(out.id).diagnostics == ()
    graph.set_param(inp.id, "dtype", "float32")
    assert analysis.diagnostics() == []
    assert analysis.result(fc.id).dtype == "float32"


def test_an_empty_graph(graph: Graph) -> None:
    analysis = analyse(graph)
    assert [(d.node_id, d.severity, d.text) for d in analysis.diagnostics()] == [
        (None, "error", "The network is empty: add an Input layer from the palette")
    ]
    assert analysis.summary().errors == 1 and analysis.summary().total_params == 0


def test_no_input_and_no_output(graph: Graph) -> None:
    analysis = ShapeAnalysis(graph)
    fc = graph.add_node("Linear", "fc")
    graph_level = [d for d in analysis.diagnostics() if d.node_id is None]
    assert [d.text for d in graph_level] == [
        "The network has no Input layer: add an Input and connect it to the first layer",
        "The network has no Output layer: connect an Output to the tensor the model should return",
    ]
    inp = graph.add_node("Input", "x", {"shape": (2,)})
    graph.connect(inp.id, "out", fc.id, "in")
    assert [d.text for d in analysis.diagnostics() if d.node_id is None] == [
        "The network has no Output layer: connect an Output to the tensor the model should return"
    ]
    out = graph.add_node("Output", "o")
    graph.connect(fc.id, "out", out.id, "in")
    assert analysis.diagnostics() == []


def test_unused_outputs_are_warnings(graph: Graph) -> None:
    inp, fc, out = build(graph, ("Input", "x", {"shape": (3,)}), ("Linear", "fc", {"out_features": 2}), ("Output", "o", {}))
    analysis = analyse(graph)
    side = graph.add_node("Dropout", "side")
    graph.connect(inp.id, "out", side.id, "in")
    assert [(d.node_id, d.severity, d.text) for d in analysis.diagnostics()] == [
        (side.id, "warning", "Dropout 'side' output is not used: connect it to another layer or an Output")
    ]
    assert analysis.is_valid, "a warning does not make the network invalid"
    assert analysis.summary().warnings == 1 and analysis.summary().errors == 0
    graph.remove_node(out.id)
    assert {d.node_id for d in analysis.diagnostics() if d.severity == "warning"} == {side.id, fc.id}
    graph.disconnect(graph.source_of(side.id, "in"))
    assert {d.node_id for d in analysis.diagnostics() if d.severity == "warning"} == {fc.id}


def test_nothing_below_an_error_is_guessed_or_blamed(graph: Graph) -> None:
    _inp, fc1, drop, fc2, _out = build(
        graph,
        ("Input", "x", {"shape": (16, 5, 5)}),
        ("Linear", "fc1", {"out_features": 8}),
        ("Dropout", "drop", {}),
        ("Linear", "fc2", {"out_features": 2}),
        ("Output", "o", {}),
    )
    analysis = analyse(graph)
    assert [d.node_id for d in analysis.diagnostics()] == [fc1.id]
    for node in (fc1, drop, fc2):
        result = analysis.result(node.id)
        assert result.outputs is None and result.dtype is None and result.params == 0 and result.macs == 0
    assert analysis.result(drop.id).inputs == (None,)
    assert analysis.summary().trainable_params == 0


# ----- totals -----
def test_totals(graph: Graph) -> None:
    build(
        graph,
        ("Input", "img", {"shape": (1, 28, 28)}),
        ("Flatten", "flat", {}),
        ("Linear", "fc1", {"out_features": 100}),
        ("Dropout", "drop", {"p": 0.2}),
        ("Linear", "fc2", {"out_features": 10, "bias": False}),
        ("Output", "o", {}),
    )
    summary = analyse(graph).summary()
    assert summary.trainable_params == 784 * 100 + 100 + 100 * 10
    assert summary.total_params == summary.trainable_params
    assert summary.total_macs == 784 * 100 + 100 * 10
    assert summary.activation_elements == 784 + 784 + 100 + 100 + 10
    assert (summary.errors, summary.warnings) == (0, 0)


@pytest.fixture
def scale_layer(monkeypatch: pytest.MonkeyPatch) -> str:
    """A test-only layer with learnable weights and running statistics (buffers), like a norm."""

    def infer(p: dict, ins: list) -> list:
        need_rank(ins[0], (2,), "a 2-D input (N, features)")
        return [ins[0]]

    spec = LayerSpec(
        type="TestScale",
        category="Test",
        doc="Test only.",
        params=(),
        infer=infer,
        targets=targets("x", "x", "x", "x"),
        state=lambda p, ins: {
            "weight": StateTensor((ins[0][1],)),
            "running": StateTensor((2, ins[0][1]), learned=False),
            "count": StateTensor((), learned=False),
        },
        count_macs=lambda p, ins, outs: numel(outs[0]),
    )
    monkeypatch.setitem(CATALOGUE, spec.type, spec)
    return spec.type


def test_totals_count_buffers_apart_from_learnable_parameters(graph: Graph, scale_layer: str) -> None:
    build(graph, ("Input", "x", {"shape": (6,)}), (scale_layer, "s", {}), ("Linear", "fc", {"out_features": 2}), ("Output", "o", {}))
    analysis = analyse(graph)
    assert analysis.result(graph.node_by_name("s").id).buffers == 13
    summary = analysis.summary()
    assert summary.trainable_params == 6 + (6 * 2 + 2)
    assert summary.total_params == summary.trainable_params + 13
    assert summary.total_macs == 6 + 12


def test_a_broken_rule_becomes_a_diagnostic(graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    def infer(p: dict, ins: list) -> list:
        return [(None, 1 // 0)]

    spec = LayerSpec("TestBroken", "Test", "Test only.", (), infer, targets("x", "x", "x", "x"))
    monkeypatch.setitem(CATALOGUE, spec.type, spec)
    build(graph, ("Input", "x", {"shape": (3,)}), ("TestBroken", "b", {}), ("Output", "o", {}))
    assert texts(analyse(graph)) == [
        "TestBroken 'b' could not be analysed (ZeroDivisionError: integer division or modulo by zero): please report this"
    ]


def test_an_empty_output_is_an_error(graph: Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = LayerSpec("TestShrink", "Test", "Test only.", (), lambda p, ins: [(None, ins[0][1] - 3)], targets("x", "x", "x", "x"))
    monkeypatch.setitem(CATALOGUE, spec.type, spec)
    build(graph, ("Input", "x", {"shape": (3,)}), ("TestShrink", "s", {}), ("Output", "o", {}))
    assert texts(analyse(graph)) == [
        "TestShrink 's' would produce an empty output (N, 0) from (N, 3): use a larger input or a smaller kernel, stride or padding"
    ]


def test_shape_error_carries_message_and_hint() -> None:
    err = ShapeError("needs x", "do y")
    assert (err.message, err.hint, str(err)) == ("needs x", "do y", "needs x")


# ----- incrementality: how much is recomputed -----
@pytest.fixture
def mlp(graph: Graph) -> tuple[ShapeAnalysis, list[Node]]:
    """Input -> a (Linear 32) -> drop -> b (Linear 10) -> d2 -> Output, analysed and settled."""
    nodes = build(
        graph,
        ("Input", "x", {"shape": (20,)}),
        ("Linear", "a", {"out_features": 32}),
        ("Dropout", "drop", {}),
        ("Linear", "b", {"out_features": 10}),
        ("Dropout", "d2", {}),
        ("Output", "o", {}),
    )
    analysis = analyse(graph)
    assert analysis.refresh() == set() and analysis.last_recomputed == 0
    return analysis, nodes


def test_an_edit_that_keeps_shapes_recomputes_one_node(graph: Graph, mlp: tuple[ShapeAnalysis, list[Node]]) -> None:
    analysis, (_, _, drop, b, _, _) = mlp
    graph.set_param(drop.id, "p", 0.1)
    assert analysis.refresh() == {drop.id}
    assert analysis.last_recomputed == 1
    graph.set_param(b.id, "bias", False)
    assert analysis.refresh() == {b.id}
    assert analysis.result(b.id).params == 320


def test_an_edit_that_changes_shapes_stops_where_they_stop_changing(graph: Graph, mlp: tuple[ShapeAnalysis, list[Node]]) -> None:
    analysis, (inp, a, drop, b, d2, out) = mlp
    graph.set_param(a.id, "out_features", 64)
    assert analysis.refresh() == {a.id, drop.id, b.id}, "b's output keeps its shape, so d2 and the Output are untouched"
    assert analysis.last_recomputed == 3
    assert analysis.result(b.id).params == 64 * 10 + 10
    graph.set_param(inp.id, "shape", (7,))
    assert analysis.refresh() == {inp.id, a.id}
    graph.set_param(b.id, "out_features", 3)
    assert analysis.refresh() == {b.id, d2.id, out.id}
    assert analysis.results() == fresh(graph).results()


def test_each_piece_of_a_split_flows_along_its_own_edge() -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (6, 4)})
    split = graph.add_node("Split", "split", {"sizes": (1, 2, 3)})
    flat = graph.add_node("Flatten", "flat")
    out = graph.add_node("Output", "y")
    graph.connect(x.id, "out", split.id, "in")
    graph.connect(split.id, "out3", flat.id, "in")
    graph.connect(flat.id, "out", out.id, "in")
    analysis = analyse(graph)
    assert analysis.result(split.id).outputs == {"out1": (None, 1, 4), "out2": (None, 2, 4), "out3": (None, 3, 4)}
    assert analysis.result(flat.id).inputs == ((None, 3, 4),)
    assert not analysis.result(split.id).diagnostics  # pieces nothing reads are no mistake while one is read
    graph.set_param(split.id, "sizes", (2, 1, 4))
    assert analysis.result(split.id).diagnostics[0].text.endswith("choose sizes that add up to 6")
    assert analysis.result(flat.id).outputs is None


def test_moving_recomputes_nothing(graph: Graph, mlp: tuple[ShapeAnalysis, list[Node]]) -> None:
    analysis, (_, a, *_) = mlp
    graph.move(a.id, (100, 50))
    assert analysis.refresh() == set()


def test_a_closed_analysis_stops_following(graph: Graph, mlp: tuple[ShapeAnalysis, list[Node]]) -> None:
    analysis, (_, a, *_) = mlp
    analysis.close()
    graph.set_param(a.id, "out_features", 5)
    assert analysis.refresh() == set()
    assert analysis.result(a.id).outputs == {"out": (None, 32)}


def test_several_edits_between_refreshes(graph: Graph, mlp: tuple[ShapeAnalysis, list[Node]]) -> None:
    analysis, (_, a, drop, b, d2, out) = mlp
    graph.set_param(a.id, "out_features", 8)
    graph.set_param(d2.id, "p", 0.3)
    graph.rename(out.id, "logits")
    assert analysis.refresh() == {a.id, drop.id, b.id, d2.id, out.id}
    assert analysis.results() == fresh(graph).results()


# ----- incrementality: proven against a from-scratch analysis -----
SHAPE_VALUES: dict[str, list[Any]] = {
    "shape": [(4,), (2, 3), (2, 2, 3), (6,), (3, -1), (-1,), (2, 2)],
    "dtype": ["float32", "int64"],
    "out_features": [2, 3, 4, 6],
    "bias": [True, False],
    "p": [0.1, 0.5],
    "dims": [(1,), (2, 1), (1, 2), (3, 1, 2)],
    "num_inputs": [2, 3],
}
NODE_NAMES = ("a", "b", "c", "d", "e", "f")


class LiveAnalysis(RuleBasedStateMachine):
    """Random edits under a live analysis; after each, it must equal a fresh one."""

    @initialize(eager=st.booleans(), data=st.data())
    def start(self, eager: bool, data: st.DataObject) -> None:
        self.graph = Graph()
        self.eager = eager
        seed = data.draw(st.integers(0, 3))
        if seed:  # sometimes the analysis starts on an existing graph
            chain = [("Input", "x", {"shape": (2, 3)}), ("Flatten", "f0", {}), ("Linear", "l0", {"out_features": 4}), ("Output", "o0", {})]
            build(self.graph, *chain[: seed + 1])
        self.live = ShapeAnalysis(self.graph)
        self.types = list(CATALOGUE)

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.graph.nodes)))

    @rule(data=st.data())
    def add(self, data: st.DataObject) -> None:
        layer_type = data.draw(st.sampled_from(self.types))
        spec = CATALOGUE[layer_type]
        params = {p.name: data.draw(st.sampled_from(SHAPE_VALUES[p.name])) for p in spec.params if p.name in SHAPE_VALUES}
        try:
            self.graph.add_node(layer_type, params=params)
        except GraphError:  # a value this layer's spec rejects
            self.graph.add_node(layer_type)

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        self.graph.remove_node(self.pick(data))

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def connect(self, data: st.DataObject) -> None:
        src, dst = self.graph.node(self.pick(data)), self.graph.node(self.pick(data))
        outs = [p.name for p in src.spec.output_ports(src.params)]
        ins = [p.name for p in dst.spec.input_ports(dst.params)]
        if not outs or not ins:
            return
        port = data.draw(st.sampled_from(ins))
        existing = self.graph.source_of(dst.id, port)
        if existing is not None:  # rewire: the edit a user makes by dragging onto a fed port
            self.graph.disconnect(existing)
        if existing != (edge := (src.id, data.draw(st.sampled_from(outs)), dst.id, port)):
            self.graph.connect(*edge)

    @precondition(lambda self: bool(self.graph.edges))
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        self.graph.disconnect(data.draw(st.sampled_from(self.graph.edges)))

    @precondition(lambda self: any(n.params for n in self.graph.nodes.values()))
    @rule(data=st.data())
    def set_param(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from([n for n in self.graph.nodes.values() if n.params]))
        name = data.draw(st.sampled_from(sorted(node.params)))
        if name not in SHAPE_VALUES:
            return
        try:
            self.graph.set_param(node.id, name, data.draw(st.sampled_from(SHAPE_VALUES[name])))
        except GraphError:  # a value this layer rejects, or inputs still connected
            pass

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data())
    def rename(self, data: st.DataObject) -> None:
        node_id = self.pick(data)
        name = data.draw(st.sampled_from(NODE_NAMES))
        if self.graph.node_by_name(name) is None:
            self.graph.rename(node_id, name)

    @precondition(lambda self: len(self.graph) > 0)
    @rule(data=st.data(), x=st.integers(-5, 5))
    def move(self, data: st.DataObject, x: int) -> None:
        self.graph.move(self.pick(data), (x, 0))

    @rule()
    def compare(self) -> None:
        self.check()

    @invariant()
    def compare_eagerly(self) -> None:
        if self.eager:
            self.check()

    def check(self) -> None:
        recomputed = self.live.refresh()
        assert recomputed <= set(self.graph.nodes)
        assert self.live.last_recomputed == len(recomputed)
        scratch = fresh(self.graph)
        assert self.live.results() == scratch.results()
        assert self.live.diagnostics() == scratch.diagnostics()
        assert self.live.summary() == scratch.summary()
        order = {node_id: i for i, node_id in enumerate(self.live.ordered_ids())}
        assert set(order) == set(self.graph.nodes)
        g = self.graph.structure()
        cyclic = {n for comp in nx.strongly_connected_components(g) if len(comp) > 1 for n in comp}
        cyclic.update(nx.nodes_with_selfloops(g))
        for edge in self.graph.edges:
            if edge.src not in cyclic and edge.dst not in cyclic:
                assert order[edge.src] < order[edge.dst], f"{edge} goes against the order"
        assert self.live.refresh() == set(), "a second refresh has nothing left to do"

    def teardown(self) -> None:
        if hasattr(self, "live"):
            self.check()
            self.live.close()


def test_live_analysis_equals_a_fresh_one(pair: str) -> None:
    run_state_machine_as_test(LiveAnalysis)


def test_merging_token_ids_with_float_values_is_a_diagnostic() -> None:
    graph = Graph()
    ids = graph.add_node("Input", "ids", {"shape": [4], "dtype": "int64"})
    values = graph.add_node("Input", "values", {"shape": [4]})
    cat = graph.add_node("Concat", "cat")
    graph.connect(ids.id, "out", cat.id, "in1")
    graph.connect(values.id, "out", cat.id, "in2")
    [diag] = analyse(graph).result(cat.id).diagnostics
    assert diag.message == "Concat 'cat' mixes float32 values and int64 token ids"


# ----- broadcasting and the batch -----
def _merge(graph: Graph, layer_type: str, *shapes: tuple[int, ...]) -> Node:
    """Inputs of `shapes` into one `layer_type` node, and that into an Output."""
    layer = graph.add_node(layer_type, "merge", {"num_inputs": len(shapes)} if CATALOGUE[layer_type].variadic else {})
    for index, shape in enumerate(shapes, start=1):
        source = graph.add_node("Input", f"x{index}", {"shape": shape})
        graph.connect(source.id, "out", layer.id, f"in{index}")
    graph.connect(layer.id, "out", graph.add_node("Output", "y").id, "in")
    return layer


def test_squeeze_and_excitation_broadcasts_its_gate_over_the_map(graph: Graph) -> None:
    layer = _merge(graph, "Multiply", (16, 8, 8), (16, 1, 1))
    assert fresh(graph).result(layer.id).outputs == {"out": (None, 16, 8, 8)}


def test_sizes_that_do_not_broadcast_name_the_dimension(graph: Graph) -> None:
    _merge(graph, "Add", (16, 8, 8), (16, 4, 8))
    (text,) = texts(fresh(graph))
    assert "cannot broadcast in1 (N, 16, 8, 8) with in2 (N, 16, 4, 8): dim 2 is 8 against 4" in text
    assert "equal or one of them is 1" in text


def test_a_gate_of_lower_rank_is_told_the_reshape_that_broadcasts_it(graph: Graph) -> None:
    layer = _merge(graph, "Multiply", (16, 8, 8), (16,))
    (diagnostic,) = [d for d in fresh(graph).diagnostics() if d.node_id == layer.id]
    assert "same number of dimensions" in diagnostic.text
    assert diagnostic.hint == "insert a Reshape with shape (16, 1, 1) before in2 so it broadcasts over the other's remaining dimensions"


def test_batches_join_only_when_they_hold_the_same_rows() -> None:
    assert join_batches([("in1", None), ("in2", None)], shares=False) is None
    assert join_batches([("in1", SHARED), ("in2", None)], shares=True) is None
    assert join_batches([("in1", SHARED)], shares=False) == SHARED
    assert join_batches([("in1", Folded(8)), ("in2", Folded(8))], shares=False) == Folded(8)
    with pytest.raises(ShapeError, match="mixes the batch N of in1 with the batch N×8 of in2"):
        join_batches([("in1", None), ("in2", Folded(8))], shares=True)
    with pytest.raises(ShapeError, match="gets key shared by every sample"):
        join_batches([("query", None), ("key", SHARED)], shares=False)


def test_a_folded_batch_reads_as_a_multiple_of_n() -> None:
    assert show((Folded(8), 16, 64)) == "(N×8, 16, 64)"
    assert show((SHARED, 1, 768)) == "(1, 1, 768)"
    assert show((None, 3)) == "(N, 3)"


def test_each_cycle_is_one_diagnostic_listing_at_most_20_layers(graph: Graph) -> None:
    rings = [[graph.add_node("Identity", f"r{r}_{i}") for i in range(size)] for r, size in enumerate((30, 3))]
    for ring in rings:
        for a, b in zip(ring, ring[1:] + ring[:1]):
            graph.connect(a.id, "out", b.id, "in")
    analysis = analyse(graph)
    cycles = [d for d in analysis.diagnostics() if "cycle" in d.message]
    assert [d.node_id for d in cycles] == [rings[0][0].id, rings[1][0].id]
    long, short = (d.message for d in cycles)
    assert long.endswith("'r0_18' → 'r0_19' → … 10 more → 'r0_0')") and "'r0_20'" not in long
    assert short.endswith("('r1_0' → 'r1_1' → 'r1_2' → 'r1_0')")
    graph.rename(rings[1][2].id, "last")
    assert analysis.result(rings[1][0].id).diagnostics[0].message.endswith("('r1_0' → 'r1_1' → 'last' → 'r1_0')")
    graph.disconnect(graph.source_of(rings[0][5].id, "in"))
    assert [d.node_id for d in analysis.diagnostics() if "cycle" in d.message] == [rings[1][0].id]
    assert analysis.diagnostics() == fresh(graph).diagnostics()
