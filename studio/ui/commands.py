"""Undoable edits: each `QUndoCommand` wraps one `Graph` operation and its exact inverse.

NOTE: the `Document` performs an edit on the graph first (so a bad edit raises a `GraphError`
before anything is pushed) and then pushes the command with `done=True`, whose first `redo`
is skipped. Every later redo replays an edit that was valid on the very same graph state.
Before a later redo or an undo, a command calls its `reveal` hook with its graph, so the editor
can show the level (the network, or a block) the step changes.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QUndoCommand

from studio.graph.blocks import Block
from studio.graph.model import (
    Edge,
    EdgeAdded,
    EdgeRemoved,
    Event,
    Graph,
    Node,
    NodeAdded,
    NodeMoved,
    NodeRemoved,
    NodeRenamed,
    ParamChanged,
    Position,
)

PARAM_EDIT_ID = 1
TRAINING_EDIT_ID = 2


class GraphCommand(QUndoCommand):
    """A command over one graph whose first redo may already have happened."""

    def __init__(self, graph: Graph, text: str, done: bool) -> None:
        super().__init__(text)
        self.graph = graph
        self._skip = done
        # NOTE: weak, so no command (owned by the C++ stack) keeps the document alive in a cycle
        self.reveal: weakref.WeakMethod | None = None

    def redo(self) -> None:
        if self._skip:
            self._skip = False
            return
        _reported(self._show_level, self.apply)

    def undo(self) -> None:
        _reported(self._show_level, self.revert)

    def _show_level(self) -> None:
        reveal = self.reveal() if self.reveal is not None else None
        if reveal is not None:
            reveal(self.graph)

    def apply(self) -> None:
        raise NotImplementedError

    def revert(self) -> None:
        raise NotImplementedError


class AddNodeCommand(GraphCommand):
    """Add one node; undo removes it, redo puts the same node (id, name, params) back."""

    def __init__(self, graph: Graph, node: Node, done: bool = True) -> None:
        super().__init__(graph, f"Add {node.type} '{node.name}'", done)
        self.node = node.copy()

    def apply(self) -> None:
        self.graph.restore_node(self.node)

    def revert(self) -> None:
        self.graph.remove_node(self.node.id)


class RemoveNodeCommand(GraphCommand):
    """Remove one node and its edges; undo restores both, in the node's old place in the order."""

    def __init__(
        self,
        graph: Graph,
        node: Node,
        edges: tuple[Edge, ...],
        index: int,
        done: bool = True,
    ) -> None:
        super().__init__(graph, f"Delete '{node.name}'", done)
        self.node, self.edges, self.index = node.copy(), edges, index

    def apply(self) -> None:
        self.graph.remove_node(self.node.id)

    def revert(self) -> None:
        self.graph.restore_node(self.node, self.edges, self.index)


class ConnectCommand(GraphCommand):
    """Connect an output port to an input port."""

    def __init__(self, graph: Graph, edge: Edge, done: bool = True) -> None:
        super().__init__(
            graph, f"Connect {_end(graph, edge.src)} to {_end(graph, edge.dst)}", done
        )
        self.edge = edge

    def apply(self) -> None:
        self.graph.connect(
            self.edge.src, self.edge.src_port, self.edge.dst, self.edge.dst_port
        )

    def revert(self) -> None:
        self.graph.disconnect(self.edge)


class DisconnectCommand(GraphCommand):
    """Remove one edge."""

    def __init__(self, graph: Graph, edge: Edge, done: bool = True) -> None:
        super().__init__(
            graph,
            f"Disconnect {_end(graph, edge.src)} from {_end(graph, edge.dst)}",
            done,
        )
        self.edge = edge

    def apply(self) -> None:
        self.graph.disconnect(self.edge)

    def revert(self) -> None:
        self.graph.connect(
            self.edge.src, self.edge.src_port, self.edge.dst, self.edge.dst_port
        )


class SetParamCommand(GraphCommand):
    """Change one parameter; consecutive edits of the same parameter merge into one step."""

    def __init__(
        self,
        graph: Graph,
        node_id: str,
        name: str,
        old: Any,
        new: Any,
        done: bool = True,
    ) -> None:
        super().__init__(graph, f"Set {_end(graph, node_id)}.{name} = {new!r}", done)
        self.node_id, self.name, self.old, self.new = node_id, name, old, new

    def apply(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.new)

    def revert(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.old)

    def id(self) -> int:
        return PARAM_EDIT_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParamCommand) or (other.graph, other.node_id, other.name) != (
            self.graph,
            self.node_id,
            self.name,
        ):
            return False
        self.new = other.new
        self.setText(other.text())
        return True


class RenameCommand(GraphCommand):
    """Rename one node."""

    def __init__(
        self, graph: Graph, node_id: str, old: str, new: str, done: bool = True
    ) -> None:
        super().__init__(graph, f"Rename '{old}' to '{new}'", done)
        self.node_id, self.old, self.new = node_id, old, new

    def apply(self) -> None:
        self.graph.rename(self.node_id, self.new)

    def revert(self) -> None:
        self.graph.rename(self.node_id, self.old)


class MoveNodesCommand(GraphCommand):
    """Move several nodes at once (a drag, or Arrange)."""

    def __init__(
        self,
        graph: Graph,
        old: dict[str, Position],
        new: dict[str, Position],
        text: str = "",
        done: bool = True,
    ) -> None:
        super().__init__(graph, text or _move_text(graph, new), done)
        self.old, self.new = dict(old), dict(new)

    def apply(self) -> None:
        for node_id, position in self.new.items():
            self.graph.move(node_id, position)

    def revert(self) -> None:
        for node_id, position in self.old.items():
            self.graph.move(node_id, position)


class SetTrainingCommand(QUndoCommand):
    """Change one training setting of the project; consecutive edits of one setting merge."""

    def __init__(
        self, apply: Callable[[str, Any], None], name: str, old: Any, new: Any
    ) -> None:
        super().__init__(f"Set training {name} = {new!r}")
        self._apply, self.name, self.old, self.new = apply, name, old, new
        self._skip = True  # the document applied it before pushing

    def redo(self) -> None:
        if self._skip:
            self._skip = False
            return
        _reported(lambda: self._apply(self.name, self.new))

    def undo(self) -> None:
        _reported(lambda: self._apply(self.name, self.old))

    def id(self) -> int:
        return TRAINING_EDIT_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetTrainingCommand) or other.name != self.name:
            return False
        self.new = other.new
        self.setText(other.text())
        return True


def _reported(*steps: Callable[[], None]) -> None:
    """Run an undo or redo, reporting an exception through `sys.excepthook` instead of raising it.

    NOTE: an exception left pending in an override that `QUndoStack.setIndex` calls (the History
    panel's clicks, several steps at once) makes PySide call the next command with the error still
    set, which crashes the process; reported here, it is a traceback and a state the tests catch.
    """
    try:
        for step in steps:
            step()
    except Exception:  # noqa: BLE001 - see the note: never let it reach Qt
        sys.excepthook(*sys.exc_info())


def _end(graph: Graph, node_id: str) -> str:
    return f"'{graph.node(node_id).name}'" if node_id in graph else node_id


def reconnect_text(graph: Graph, old: Edge, new: Edge) -> str:
    """The history line of a wire moved: the end that stayed, where the other end goes now, and where it was."""
    if (old.dst, old.dst_port) == (new.dst, new.dst_port):
        stayed, now, was = _port(graph, new.dst, new.dst_port, False), _port(graph, new.src, new.src_port, True), _port(graph, old.src, old.src_port, True)
    else:
        stayed, now, was = _port(graph, old.src, old.src_port, True), _port(graph, new.dst, new.dst_port, False), _port(graph, old.dst, old.dst_port, False)
    return f"Reconnect {stayed} to {now} (was {was})"


def _port(graph: Graph, node_id: str, port: str, output: bool) -> str:
    """A node's name, with the port where the node has several on that side ('add'.in2)."""
    if node_id not in graph:
        return node_id
    node = graph.node(node_id)
    ports = node.spec.output_ports(node.params) if output else node.spec.input_ports(node.params)
    return f"'{node.name}'.{port}" if len(ports) > 1 else f"'{node.name}'"


def _move_text(graph: Graph, new: dict[str, Position]) -> str:
    if len(new) == 1:
        return f"Move {_end(graph, next(iter(new)))}"
    return f"Move {len(new)} layers"


class RecordedCommand(GraphCommand):
    """A compound edit replayed from the graph events it sent (Group into Block, Ungroup).

    `defined` is a block the edit added to the library (taken out again on undo), `removed`
    one it took out (put back on undo).
    """

    def __init__(
        self,
        graph: Graph,
        text: str,
        events: list[Event],
        defined: Block | None = None,
        removed: Block | None = None,
        done: bool = True,
    ) -> None:
        super().__init__(graph, text, done)
        self.events = list(events)
        self.defined, self.removed = defined, removed

    def apply(self) -> None:
        if self.defined is not None:
            self.graph.library.add(self.defined)
        for event in self.events:
            _replay(self.graph, event)
        if self.removed is not None:
            self.graph.library.remove(self.removed.name)

    def revert(self) -> None:
        if self.removed is not None:
            self.graph.library.add(self.removed)
        for event in reversed(self.events):
            _revert(self.graph, event)
        if self.defined is not None:
            self.graph.library.remove(self.defined.name)


def _replay(graph: Graph, event: Event) -> None:
    if isinstance(event, NodeAdded):
        graph.restore_node(event.node)
    elif isinstance(event, NodeRemoved):
        graph.remove_node(event.node.id)
    elif isinstance(event, EdgeAdded):
        graph.connect(event.edge.src, event.edge.src_port, event.edge.dst, event.edge.dst_port)
    elif isinstance(event, EdgeRemoved):
        graph.disconnect(event.edge)
    elif isinstance(event, ParamChanged):
        graph.set_param(event.node_id, event.name, event.new)
    elif isinstance(event, NodeRenamed):
        graph.rename(event.node_id, event.new)
    elif isinstance(event, NodeMoved):
        graph.move(event.node_id, event.new)


def _revert(graph: Graph, event: Event) -> None:
    if isinstance(event, NodeAdded):
        graph.remove_node(event.node.id)
    elif isinstance(event, NodeRemoved):
        graph.restore_node(event.node, event.edges, event.index)
    elif isinstance(event, EdgeAdded):
        graph.disconnect(event.edge)
    elif isinstance(event, EdgeRemoved):
        graph.connect(event.edge.src, event.edge.src_port, event.edge.dst, event.edge.dst_port)
    elif isinstance(event, ParamChanged):
        graph.set_param(event.node_id, event.name, event.old)
    elif isinstance(event, NodeRenamed):
        graph.rename(event.node_id, event.old)
    elif isinstance(event, NodeMoved):
        graph.move(event.node_id, event.old)
