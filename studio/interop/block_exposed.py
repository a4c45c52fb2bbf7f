"""A block's exposed parameters worked out from the modules it stands for: what differs between them, and what some leave out.

Each row holds, per unit of the block's template, the parameters one module gives it (None where
that module leaves the unit out). A parameter that differs between rows becomes an exposed one
binding every inner parameter that follows the same run of values; units left out together
become one switch.
"""

from __future__ import annotations

import re
from typing import Any

from studio.graph.blocks import Exposed
from studio.graph.model import Graph


def exposed(inner: Graph, ids: list[str], rows: list[list[dict[str, Any] | None]]) -> tuple[Exposed, ...]:
    """One exposed parameter per parameter name and run of values that differs between the scopes (binding every inner parameter that follows it).

    A unit switched off in some scopes has no value there: its run joins a run of the same
    parameter that agrees wherever it has one, else is its own (the gaps filled), unless it never differs.
    """
    runs: dict[tuple[str, tuple[Any, ...]], list[tuple[str, str]]] = {}
    partial: list[tuple[str, tuple[Any, ...], tuple[str, str]]] = []
    for i, node_id in enumerate(ids):
        for param in rows[0][i] or {}:
            run = tuple(None if row[i] is None else _hashable(row[i][param]) for row in rows)
            if param == "repeat":
                continue
            if None in run:
                partial.append((param, run, (node_id, param)))
            elif len(set(run)) > 1:
                runs.setdefault((param, run), []).append((node_id, param))
    for param, run, bind in partial:
        joined = next((key for key in runs if key[0] == param and all(v is None or v == w for v, w in zip(run, key[1]))), None)
        if joined is not None:
            runs[joined].append(bind)
        elif len({v for v in run if v is not None}) > 1:
            fill = next(v for v in run if v is not None)
            runs.setdefault((param, tuple(fill if v is None else v for v in run)), []).append(bind)
    counts: dict[str, int] = {}
    for param, _ in runs:
        counts[param] = counts.get(param, 0) + 1
    found, names = [], {"repeat"}
    for (param, _), binds in runs.items():
        base = param if counts[param] == 1 else f"{_identifier(inner.node(binds[0][0]).name, inner.node(binds[0][0]).type)}_{param}"
        found.append(Exposed(_fresh(base, names), inner.node(binds[0][0]).params[param], binds=tuple(binds)))
    return tuple(found)


def switches(inner: Graph, ids: list[str], rows: list[list[dict[str, Any] | None]], taken: set[str]) -> tuple[Exposed, ...]:
    """One switch per set of units that some scopes leave out together, named after the first (`downsample`)."""
    together: dict[tuple[bool, ...], list[str]] = {}
    for i, node_id in enumerate(ids):
        present = tuple(row[i] is not None for row in rows)
        if not all(present):
            together.setdefault(present, []).append(node_id)
    names = {"repeat", *taken}
    found = []
    for present, switched in together.items():
        first = inner.node(switched[0])
        found.append(Exposed(_fresh(_identifier(first.name, first.type), names), present[0], switches=tuple(switched)))
    return tuple(found)


def _fresh(base: str, names: set[str]) -> str:
    name, k = base, 2
    while name in names:
        name, k = f"{base}_{k}", k + 1
    names.add(name)
    return name


def value_of(exposed: Exposed, ids: list[str], row: list[dict[str, Any] | None]) -> Any:
    """What one scope sets an exposed parameter to: whether its switched units are there, or the first bound value it has."""
    if exposed.switches:
        return row[ids.index(exposed.switches[0])] is not None
    for node_id, param in exposed.binds:
        found = row[ids.index(node_id)]
        if found is not None:
            return found[param]
    return exposed.default


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _identifier(name: str, layer_type: str) -> str:
    cleaned = re.sub(r"\W+", "_", name).strip("_")
    return cleaned if cleaned and not cleaned[0].isdigit() else re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", layer_type).lower() + (f"_{cleaned}" if cleaned else "")
