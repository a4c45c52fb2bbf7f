"""The blocks of a project file: each block's inner graph and exposed parameters, read in dependency order."""

from __future__ import annotations

from typing import Any

import networkx as nx

from studio.graph.blocks import BlockError, BlockLibrary, Exposed
from studio.graph.graph_records import (
    Path,
    RecordError,
    build_graph,
    graph_to_dict,
    known_keys,
    mapping,
    read_graph,
    show,
)
from studio.graph.model import Graph

BLOCK_KEYS = ("description", "exposed", "graph")
EXPOSED_KEYS = ("binds", "default", "help", "name", "switches")
MAX_TEXT = 100_000


def blocks_to_dict(library: BlockLibrary) -> dict[str, Any]:
    """Every block's dict form, by name."""
    return {
        block.name: {
            "description": block.description,
            "exposed": [_exposed_to_dict(e) for e in block.exposed],
            "graph": graph_to_dict(block.graph),
        }
        for block in library
    }


def read_blocks(value: Any, where: Path = ("blocks",)) -> BlockLibrary:
    """Check and build the blocks of a file, each after the blocks it uses; RecordError names the place."""
    blocks = mapping(value, where, "an object from block name to block")
    library = BlockLibrary()
    for name in _dependency_order(blocks, where):
        path: Path = (*where, name)
        try:
            library.check_name(name)
        except BlockError as err:
            raise RecordError(path, str(err)) from None
        block = mapping(blocks[name], path, 'an object with "graph", "exposed" and "description"')
        known_keys(block, path, BLOCK_KEYS)
        description = block.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_TEXT:
            raise RecordError((*path, "description"), f"must be a text of at most {MAX_TEXT} characters, not {show(description)}")
        nodes, edges = read_graph(block.get("graph", {}), (*path, "graph"), library)
        graph = build_graph(Graph(library=library, owner=name), nodes, edges, (*path, "graph"))
        exposed = _read_exposed(block.get("exposed", []), (*path, "exposed"))
        try:
            library.define(name, graph, exposed, description)
        except BlockError as err:
            raise RecordError((*path, "exposed"), str(err)) from None
    return library


def _dependency_order(blocks: dict[str, Any], where: Path) -> list[str]:
    uses = nx.DiGraph()
    for name, block in blocks.items():
        uses.add_node(name)
        nodes = block.get("graph", {}).get("nodes", {}) if isinstance(block, dict) and isinstance(block.get("graph"), dict) else {}
        for node in nodes.values() if isinstance(nodes, dict) else ():
            used = node.get("type") if isinstance(node, dict) else None
            if isinstance(used, str) and used in blocks:
                uses.add_edge(used, name)
    try:
        return list(nx.lexicographical_topological_sort(uses))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(uses)
        path = " → ".join([cycle[0][0], *(edge[1] for edge in cycle)])
        raise RecordError((*where, cycle[0][0]), f"uses itself ({path}): a block cannot contain itself") from None


def _exposed_to_dict(exposed: Exposed) -> dict[str, Any]:
    found: dict[str, Any] = {"name": exposed.name, "default": list(exposed.default) if isinstance(exposed.default, tuple) else exposed.default}
    if exposed.binds:
        found["binds"] = [list(pair) for pair in exposed.binds]
    if exposed.switches:
        found["switches"] = list(exposed.switches)
    if exposed.help:
        found["help"] = exposed.help
    return found


def _read_exposed(value: Any, where: Path) -> tuple[Exposed, ...]:
    if not isinstance(value, list):
        raise RecordError(where, f"must be a list of block parameters, not {show(value)}")
    found = []
    for index, item in enumerate(value):
        path: Path = (*where, index)
        record = mapping(item, path, 'an object with "name", "default" and "binds" or "switches"')
        known_keys(record, path, EXPOSED_KEYS)
        name, help_text = record.get("name"), record.get("help", "")
        if not isinstance(name, str) or not isinstance(help_text, str) or len(help_text) > MAX_TEXT:
            raise RecordError(path, f"needs a text \"name\" (and \"help\", if given), not {show(name)}")
        binds = record.get("binds", [])
        if not isinstance(binds, list) or not all(isinstance(b, list) and len(b) == 2 and all(isinstance(x, str) for x in b) for b in binds):
            raise RecordError((*path, "binds"), f"must be a list of [node id, parameter] pairs, not {show(binds)}")
        switches = record.get("switches", [])
        if not isinstance(switches, list) or not all(isinstance(s, str) for s in switches):
            raise RecordError((*path, "switches"), f"must be a list of node ids, not {show(switches)}")
        if "default" not in record:
            raise RecordError((*path, "default"), "missing: the value an instance starts with")
        found.append(Exposed(name, record["default"], tuple((a, b) for a, b in binds), tuple(switches), help_text))
    return tuple(found)
