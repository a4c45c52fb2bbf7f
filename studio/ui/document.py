"""The open project as the editor sees it: the graph, its live analysis, undo history and selection.

Views never change the graph themselves: they call the edit methods here, which apply the edit
(raising a `GraphError` with the reason when it is not allowed) and push it as an undoable command.
Views follow `graph_changed` for structure and `analysed` for shapes, counts and diagnostics.

NOTE: the editor shows one level at a time: the network, or a block opened inside it
(`open_instance`, `go_up`). `graph` and `analysis` are that level's; `network` and
`network_analysis` are always the project's top level. Every edit is made at the level shown,
and undo and redo first show the level a step edits (each `GraphCommand` asks `_reveal`), so
the history is one stack and a step is never undone out of sight.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from studio.graph import grouping
from studio.graph.blocks import BlockError
from studio.graph.layout import layered_positions
from studio.graph.model import Edge, Event, Graph, GraphError, Position
from studio.graph.project import Project, TrainingSettings
from studio.graph.shapes import ShapeAnalysis
from studio.ui.commands import (
    AddNodeCommand,
    ConnectCommand,
    DisconnectCommand,
    GraphCommand,
    MoveNodesCommand,
    RecordedCommand,
    RemoveNodeCommand,
    RenameCommand,
    SetParamCommand,
    SetTrainingCommand,
    reconnect_text,
)
from studio.ui.levels import Level, LevelAnalysis, LevelStack

FRAGMENT_FORMAT = "layer-studio-fragment"


class FragmentError(ValueError):
    """Clipboard text that is not a Layer Studio fragment."""


class Document(QObject):
    """One open project: edits go through here so each is undoable and every view hears of it."""

    graph_changed = Signal(object)  # one studio.graph event, right after the change
    analysed = Signal(
        object
    )  # set of node ids whose analysis was recomputed (may be empty)
    reset = Signal()  # a different project (or path) is now open: rebuild everything
    selection_changed = Signal(list)  # the selected node ids
    focus_requested = Signal(str)  # show this node (select and centre it)
    modified_changed = Signal(bool)
    training_changed = Signal(str)  # the name of the training setting that changed
    renamed = Signal(str)  # the project's new name (Save As names it after the file)
    level_changed = Signal()  # another level is shown (a block opened or left): rebuild the views of it
    blocks_changed = Signal(list)  # the names of the project's blocks, after one was added, removed or renamed

    def __init__(
        self,
        undo_stack: QUndoStack,
        project: Project | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.project = project or Project("untitled")
        self.path: Path | None = None
        self.network_analysis = ShapeAnalysis(self.project.graph)
        self.stack = LevelStack(self.network_analysis)
        self._selected: list[str] = []
        self._block_names = self._current_block_names()
        self.project.graph.subscribe(self._forward)
        self.stack.refresh()
        self.analysis.take_recomputed()  # views built on this document read the whole analysis: no node is left to redraw
        undo_stack.indexChanged.connect(self._refresh)
        undo_stack.cleanChanged.connect(self._on_clean_changed)

    # ----- the project -----
    @property
    def graph(self) -> Graph:
        """The graph shown and edited: the network, or the open block's inner graph."""
        return self.stack.graph

    @property
    def analysis(self) -> ShapeAnalysis | LevelAnalysis:
        """The analysis of the level shown."""
        return self.stack.analysis

    @property
    def network(self) -> Graph:
        """The project's top-level network, whatever level is shown."""
        return self.project.graph

    @property
    def levels(self) -> list[Level]:
        """The blocks open, outermost first (empty: the network is shown)."""
        return list(self.stack.levels)

    @property
    def is_modified(self) -> bool:
        """True when there are edits since the last save (or load)."""
        return not self.undo_stack.isClean()

    def load(self, project: Project, path: Path | None = None) -> None:
        """Replace the open project (the history is cleared: it belonged to the old one)."""
        self.graph.unsubscribe(self._forward)
        self.stack.close()
        self.network_analysis.close()
        self.undo_stack.clear()
        self.project, self.path = project, path
        self.network_analysis = ShapeAnalysis(project.graph)
        self.stack = LevelStack(self.network_analysis)
        project.graph.subscribe(self._forward)
        self._selected = []
        self._block_names = self._current_block_names()
        self.blocks_changed.emit(self._block_names)
        self.undo_stack.setClean()
        self.reset.emit()
        self.selection_changed.emit([])
        self.modified_changed.emit(False)
        self._refresh()

    def set_name(self, name: str) -> None:
        """Name the project (the generated code's class is named after it)."""
        if name != self.project.name:
            self.project.name = name
            self.renamed.emit(name)

    def mark_saved(self, path: Path) -> None:
        """Record that the project now lives in `path` and matches it."""
        self.path = path
        self.undo_stack.setClean()
        self.modified_changed.emit(False)

    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    def _forward(self, event: Event) -> None:
        self.graph_changed.emit(event)

    def _refresh(self, *_: Any) -> None:
        self.stack.refresh()
        if self.stack.analyses:
            self.network_analysis.take_recomputed()  # not shown: the cards are made anew on the way back
        self.analysed.emit(self.analysis.take_recomputed())
        names = self._current_block_names()
        if names != self._block_names:
            self._block_names = names
            self.blocks_changed.emit(names)

    def _current_block_names(self) -> list[str]:
        return [b.name for b in self.project.blocks]

    def _push(self, command: GraphCommand) -> None:
        """Push an edit made at the level shown; wires to instance ports the edit took away go in the same step."""
        command.reveal = weakref.WeakMethod(self._reveal)
        stale = self._unplugged()
        if not stale:
            self.undo_stack.push(command)
            return
        self.undo_stack.beginMacro(command.text())
        for graph, edge in stale:  # pushed first, so an undo puts the ports back before it reconnects them
            graph.disconnect(edge)
            self.undo_stack.push(DisconnectCommand(graph, edge))
        self.undo_stack.push(command)
        self.undo_stack.endMacro()

    def _unplugged(self) -> list[tuple[Graph, Edge]]:
        """Edges to ports the shown block's instances no longer have (an Input or Output was added or removed inside)."""
        block = self.project.blocks.get(self.graph.owner) if self.graph.owner else None
        if block is None:
            return []
        ins, outs = {p.name for p in block.input_ports()}, {p.name for p in block.output_ports()}
        found = []
        for graph in (self.network, *(b.graph for b in self.project.blocks)):
            for node in graph.nodes.values():
                if node.type == block.name:
                    found += [(graph, e) for e in graph.in_edges(node.id) if e.dst_port not in ins]
                    found += [(graph, e) for e in graph.out_edges(node.id) if e.src_port not in outs]
        return found

    # ----- levels -----
    def open_instance(self, node_id: str) -> None:
        """Show the inner graph of the block an instance at this level uses, as that instance runs it."""
        node = self.graph.node(node_id)
        if node.block is None:
            raise BlockError(f"'{node.name}' is a {node.type} layer, not an instance of a block")
        self._show_levels([*self.stack.levels, Level(node.type, node_id)])

    def open_inner(self, node_id: str, inner: tuple[str, ...]) -> None:
        """Open an instance (and the instances inside it on the way) and show the inner layer `inner[-1]`."""
        levels = [*self.stack.levels, Level(self.graph.node(node_id).type, node_id)]
        for step in inner[:-1]:
            block = self.project.blocks.get(levels[-1].block)
            node = block.graph.nodes.get(step) if block is not None else None
            if node is None or node.block is None:
                break
            levels.append(Level(node.type, step))
        self._show_levels(levels)
        if inner and inner[-1] in self.graph:
            self.focus(inner[-1])

    def open_block(self, name: str) -> None:
        """Show a block's inner graph, through the first instance of it found from the network, if any."""
        block = self.project.blocks.get(name)
        if block is None:
            raise BlockError(f"the project has no block called {name!r}")
        self._show_levels(self.stack.path_to(block.graph) or [Level(name)])

    def go_up(self, depth: int | None = None) -> bool:
        """Show the level at `depth` (0: the network; None: one up), selecting the instance left; False if at the top."""
        levels = self.stack.levels
        if not levels:
            return False
        depth = len(levels) - 1 if depth is None else max(0, min(depth, len(levels)))
        if depth == len(levels):
            return False
        left = levels[depth].instance
        self._show_levels(levels[:depth], [left] if left else [])
        return True

    def _show_levels(self, levels: list[Level], selected: list[str] | None = None) -> None:
        self.graph.unsubscribe(self._forward)
        self.stack.set(levels)
        self.graph.subscribe(self._forward)
        self._selected = [n for n in selected or [] if n in self.graph]
        self.level_changed.emit()
        self.selection_changed.emit(list(self._selected))
        self._refresh()

    def _reveal(self, graph: Graph) -> None:
        """Show the level of `graph` before an undo or redo changes it."""
        if graph is self.graph:
            return
        levels = self.stack.path_to(graph)
        if levels is not None:
            self._show_levels(levels)

    # ----- edits (each raises GraphError with the reason, or pushes one undoable step) -----
    def add_node(
        self,
        layer_type: str,
        position: Position = (0.0, 0.0),
        params: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> str:
        """Add a layer; return its id."""
        node = self.graph.add_node(layer_type, name, params, position)
        self._push(AddNodeCommand(self.graph, node))
        return node.id

    def add_after(self, layer_type: str, anchor: str, position: Position = (0.0, 0.0)) -> str:
        """Add a layer as one step, its first input wired to `anchor`'s first output when the shapes fit; return its id."""
        node = self.graph.add_node(layer_type, None, None, position)
        try:
            wire = self._fitting_wire(anchor, node.id)
        except Exception:
            self._push(AddNodeCommand(self.graph, node))  # the graph has it: the history must too
            raise
        if wire is None:
            self._push(AddNodeCommand(self.graph, node))
            return node.id
        self.undo_stack.beginMacro(f"Add {node.type} '{node.name}' after '{self.graph.node(anchor).name}'")
        try:
            self._push(AddNodeCommand(self.graph, node))
            self._push(ConnectCommand(self.graph, self.graph.connect(*wire)))
        finally:
            self.undo_stack.endMacro()
        return node.id

    def _fitting_wire(self, src: str, dst: str) -> tuple[str, str, str, str] | None:
        """The edge from `src`'s first output to `dst`'s first input, if both exist and the shapes fit (or are not known yet)."""
        if src not in self.graph or src == dst:
            return None
        source, target = self.graph.node(src), self.graph.node(dst)
        outputs = source.spec.output_ports(source.params)
        inputs = target.spec.input_ports(target.params)
        if not outputs or not inputs:
            return None
        wire = (src, outputs[0].name, dst, inputs[0].name)
        if self.analysis.wiring_problem(dst, {inputs[0].name: (src, outputs[0].name)}) is not None:
            return None
        return wire

    def remove_nodes(self, node_ids: Iterable[str]) -> None:
        """Delete layers and their connections as one step."""
        ids = [n for n in dict.fromkeys(node_ids) if n in self.graph]
        if not ids:
            return
        self._check_unexposed(ids, "deleted")
        self.undo_stack.beginMacro(
            f"Delete {len(ids)} layers"
            if len(ids) > 1
            else f"Delete '{self.graph.node(ids[0]).name}'"
        )
        for node_id in ids:
            edges = tuple(
                dict.fromkeys(
                    self.graph.in_edges(node_id) + self.graph.out_edges(node_id)
                )
            )
            index = list(self.graph.nodes).index(node_id)
            node = self.graph.remove_node(node_id)
            self._push(RemoveNodeCommand(self.graph, node, edges, index))
        self.undo_stack.endMacro()
        self.select([n for n in self._selected if n in self.graph])

    def connect(
        self, src: str, src_port: str, dst: str, dst_port: str, replace: bool = False
    ) -> Edge:
        """Connect an output to an input; with `replace`, an input already fed is re-wired."""
        existing = (
            self.graph.source_of(dst, dst_port)
            if replace and dst in self.graph
            else None
        )
        if existing is None:
            edge = self.graph.connect(src, src_port, dst, dst_port)
            self._push(ConnectCommand(self.graph, edge))
            return edge
        self.undo_stack.beginMacro(reconnect_text(self.graph, existing, Edge(src, src_port, dst, dst_port)))
        try:
            self.disconnect(existing)
            edge = self.graph.connect(src, src_port, dst, dst_port)
            self._push(ConnectCommand(self.graph, edge))
        finally:
            self.undo_stack.endMacro()
        return edge

    def disconnect(self, edge: Edge) -> None:
        """Remove a connection."""
        self.graph.disconnect(edge)
        self._push(DisconnectCommand(self.graph, edge))

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Set one parameter (validated by the layer's spec)."""
        old = self.graph.node(node_id).params.get(name)
        self.graph.set_param(node_id, name, value)
        new = self.graph.node(node_id).params[name]
        if new != old:
            self._push(SetParamCommand(self.graph, node_id, name, old, new))

    def rename(self, node_id: str, name: str) -> None:
        """Rename a layer (names are unique)."""
        old = self.graph.node(node_id).name
        self.graph.rename(node_id, name)
        if name != old:
            self._push(RenameCommand(self.graph, node_id, old, name))

    def move_nodes(self, positions: dict[str, Position], text: str = "") -> None:
        """Move layers to new positions as one step."""
        old = {n: self.graph.node(n).position for n in positions}
        changed = {n: p for n, p in positions.items() if tuple(p) != old[n]}
        if not changed:
            return
        for node_id, position in changed.items():
            self.graph.move(node_id, position)
        new = {n: self.graph.node(n).position for n in changed}
        self._push(
            MoveNodesCommand(self.graph, {n: old[n] for n in changed}, new, text)
        )

    def set_training(self, name: str, value: Any) -> None:
        """Change one training setting (validated; raises ValueError with the reason)."""
        old = getattr(self.project.training, name)
        self._apply_training(name, value)
        new = getattr(self.project.training, name)
        if new != old:
            self.undo_stack.push(
                SetTrainingCommand(self._apply_training, name, old, new)
            )

    def relocate_training_file(self, name: str, value: Any) -> None:
        """Point a file setting at where its file now lies, with no undo step: nothing was edited."""
        self._apply_training(name, value)

    def _apply_training(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(TrainingSettings)}:
            raise ValueError(f"there is no training setting {name!r}")
        self.project.training = replace(self.project.training, **{name: value})
        self.training_changed.emit(name)

    def arrange(self, max_width: float | None = None) -> None:
        """Lay the level shown (the network, or the block opened) out in layers, left to right (wrapping past `max_width`), as one step; other levels stay as they are."""
        self.move_nodes(layered_positions(self.graph, max_width), "Arrange")

    def group(self, node_ids: Iterable[str], name: str) -> str:
        """Move layers into a new block called `name`, replaced by one instance, as one step; return its id."""
        self._check_unexposed(node_ids := list(node_ids), "grouped")
        made = self._recorded(f"Group into block {name}", lambda: grouping.group(self.graph, list(node_ids), name), lambda m: m.block)
        self.select([made.instance.id])
        return made.instance.id

    def ungroup(self, node_id: str) -> list[str]:
        """Replace an instance by its block's layers, as one step; return their ids."""
        name = self.graph.node(node_id).name
        self._check_unexposed([node_id], "ungrouped")
        added = self._recorded(f"Ungroup '{name}'", lambda: grouping.ungroup(self.graph, node_id))
        self.select(added)
        return added

    def make_unique(self, node_id: str, name: str | None = None) -> str:
        """Give an instance a copy of its block, used by it alone, as one step; return the new block's name."""
        node = self.graph.node(node_id)
        name = name or self.suggest_block_name(node.type)
        self._recorded(f"Make '{node.name}' unique ({name})", lambda: grouping.make_unique(self.graph, node_id, name), lambda b: b)
        self.select([node_id])
        return name

    def check_removable(self, node_ids: Iterable[str]) -> None:
        """Raise BlockError if deleting these layers would take away ones a block parameter sets."""
        self._check_unexposed([n for n in node_ids if n in self.graph], "deleted")

    def _check_unexposed(self, node_ids: list[str], verb: str) -> None:
        """Refuse to take away layers the shown block's exposed parameters set or switch (the file would not load)."""
        block = self.project.blocks.get(self.graph.owner) if self.graph.owner else None
        for exposed in block.exposed if block is not None else ():
            used = {n for n, _ in exposed.binds} | set(exposed.switches)
            for node_id in node_ids:
                if node_id in used:
                    how = "sets" if exposed.switches == () else "switches"
                    raise BlockError(
                        f"'{self.graph.node(node_id).name}' cannot be {verb}: block {block.name}'s parameter "
                        f"'{exposed.name}' {how} it (keep it, or ungroup the block's instances and group again)"
                    )

    def _recorded(self, text: str, edit: Callable[[], Any], defined: Callable[[Any], Any] | None = None) -> Any:
        """Run a compound edit and push it as one step replayed from the events it sent."""
        events: list[Event] = []
        graph = self.graph
        graph.subscribe(events.append)
        try:
            made = edit()
        finally:
            graph.unsubscribe(events.append)
        self._push(RecordedCommand(graph, text, events, defined=defined(made) if defined else None))
        return made

    def suggest_block_name(self, base: str = "Block") -> str:
        """A free block name: Block, Block2, ... (or BasicBlock2, ... from another base)."""
        k, name = 1, base
        while name in self.project.blocks:
            k += 1
            name = f"{base}{k}"
        return name

    # ----- selection -----
    @property
    def selected_ids(self) -> list[str]:
        """The selected node ids, in the order they were selected."""
        return list(self._selected)

    def select(self, node_ids: Iterable[str]) -> None:
        """Make exactly these nodes the selection."""
        ids = [n for n in dict.fromkeys(node_ids) if n in self.graph]
        if ids != self._selected:
            self._selected = ids
            self.selection_changed.emit(list(ids))

    def focus(self, node_id: str) -> None:
        """Select a node and ask the canvas to show it."""
        self.select([node_id])
        self.focus_requested.emit(node_id)

    # ----- clipboard -----
    def copy_fragment(self, node_ids: Iterable[str]) -> str:
        """The nodes (and the edges among them) as JSON text for the clipboard."""
        ids = [n for n in dict.fromkeys(node_ids) if n in self.graph]
        chosen = set(ids)
        nodes = [
            {
                "id": n.id,
                "type": n.type,
                "name": n.name,
                "params": n.params,
                "position": list(n.position),
            }
            for n in (self.graph.node(i) for i in ids)
        ]
        edges = [
            list(_edge_fields(e))
            for e in self.graph.edges
            if e.src in chosen and e.dst in chosen
        ]
        return json.dumps(
            {"format": FRAGMENT_FORMAT, "version": 1, "nodes": nodes, "edges": edges}
        )

    def paste_fragment(self, text: str, offset: Position = (40.0, 40.0)) -> list[str]:
        """Add a copied fragment (from any project) as one step; return the new node ids."""
        nodes, edges = read_fragment(text)
        if not nodes:
            return []
        self.undo_stack.beginMacro(
            f"Paste {len(nodes)} layers" if len(nodes) > 1 else "Paste"
        )
        new_ids: dict[str, str] = {}
        try:
            for item in nodes:
                x, y = item["position"]
                name = self.graph.unique_name(item["name"])
                new_ids[item["id"]] = self.add_node(
                    item["type"], (x + offset[0], y + offset[1]), item["params"], name
                )
            for src, src_port, dst, dst_port in edges:
                if src in new_ids and dst in new_ids:
                    self.connect(new_ids[src], src_port, new_ids[dst], dst_port)
        except GraphError as err:
            self.undo_stack.endMacro()
            self.undo_stack.undo()
            raise FragmentError(f"the copied layers cannot be pasted: {err}") from None
        self.undo_stack.endMacro()
        self.select(new_ids.values())
        return list(new_ids.values())


def _edge_fields(edge: Edge) -> tuple[str, str, str, str]:
    return edge.src, edge.src_port, edge.dst, edge.dst_port


def read_fragment(
    text: str,
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str, str]]]:
    """Parse clipboard text into node records and edges, or raise FragmentError."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        raise FragmentError("the clipboard does not hold Layer Studio layers") from None
    if not isinstance(data, dict) or data.get("format") != FRAGMENT_FORMAT:
        raise FragmentError("the clipboard does not hold Layer Studio layers")
    try:
        nodes = [
            {
                "id": str(n["id"]),
                "type": str(n["type"]),
                "name": str(n["name"]),
                "params": dict(n["params"]),
                "position": (float(n["position"][0]), float(n["position"][1])),
            }
            for n in data["nodes"]
        ]
        edges = [tuple(str(v) for v in e) for e in data["edges"]]
    except (KeyError, TypeError, ValueError, IndexError):
        raise FragmentError("the copied layers are damaged: copy them again") from None
    if any(len(e) != 4 for e in edges):
        raise FragmentError("the copied layers are damaged: copy them again")
    return nodes, edges  # type: ignore[return-value]
