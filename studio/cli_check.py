"""`layer-studio check`: the project's analysis as a table or as documented JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from studio.cli_status import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, read_project
from studio.graph.bulk import collector_paused


@collector_paused()
def check_report(project: Any) -> dict[str, Any]:
    """Analyse a project and return the documented JSON form of `layer-studio check --json`."""
    from studio.graph.shapes import analyse

    graph = project.graph
    analysis = analyse(graph)
    results = analysis.results()
    summary = analysis.summary()
    nodes: list[dict[str, Any]] = []
    blocks: dict[str, dict[str, Any]] = {b.name: {"name": b.name, "instances": 0, "params": 0} for b in graph.library or ()}
    for node_id in analysis.ordered_ids():
        _add_records(nodes, blocks, graph.nodes[node_id], results[node_id], node_id, [])
    by_type = lambda t: [
        graph.nodes[n] for n in analysis.ordered_ids() if graph.nodes[n].type == t
    ]
    return {
        "name": project.name,
        "nodes": nodes,
        "blocks": list(blocks.values()),
        "inputs": [
            {
                "name": n.name,
                "shape": _json_shape((None, *n.params["shape"])),
                "dtype": n.params["dtype"],
            }
            for n in by_type("Input")
        ],
        "outputs": [
            {"name": n.name, "shape": _json_shape(results[n.id].inputs[0])}
            for n in by_type("Output")
        ],
        "total_params": summary.total_params,
        "trainable_params": summary.trainable_params,
        "non_trainable_params": summary.total_params - summary.trainable_params,
        "total_macs": summary.total_macs,
        "activation_elements": summary.activation_elements,
        "diagnostics": [
            {
                "node": graph.nodes[d.node_id].name if d.node_id else None,
                "node_id": d.node_id,
                "severity": d.severity,
                "message": d.text,
            }
            for d in analysis.diagnostics()
        ],
    }


def _add_records(records: list[dict[str, Any]], blocks: dict[str, dict[str, Any]], node: Any, result: Any, node_id: str, path: list[str]) -> None:
    """One node's record, then (for an instance) its inner layers' records, each repeat's under its own path."""
    shape = _first(result.outputs) if node.type != "Output" else result.inputs[0]
    records.append(
        {
            "id": node_id,
            "name": node.name,
            "type": node.type,
            "block": node.block.name if node.block is not None else None,
            "path": path,
            "output_shape": _json_shape(shape),
            "params": result.params,
            "buffers": result.buffers,
            "macs": result.macs,
        }
    )
    if node.block is None:
        return
    blocks[node.block.name]["instances"] += 1
    blocks[node.block.name]["params"] += result.params
    for k, inner in enumerate(result.inner):
        where = [*path, f"{node.name}.{k}" if len(result.inner) > 1 else node.name]
        for inner_id, inner_result in inner.items():
            inner_node = node.block.graph.node(inner_id)
            if inner_node.type not in ("Input", "Output"):
                _add_records(records, blocks, inner_node, inner_result, f"{node_id}.{k}.{inner_id}", where)


def cmd_check(args: argparse.Namespace) -> int:
    project = read_project(args.file)
    if project is None:
        return EXIT_UNREADABLE
    report = check_report(project)
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    if args.json:
        print_json(report)
    else:
        _print_table(report, args.file, sys.stdout)
    for d in report["diagnostics"]:
        where = f"{d['node']}: " if d["node"] else ""
        print(f"{d['severity']}: {where}{d['message']}", file=sys.stderr)
    return EXIT_INVALID if errors else EXIT_OK


def _print_table(report: dict[str, Any], path: str, out: TextIO) -> None:
    rows = [
        (
            f"{'  ' * len(n['path'])}{n['name']} ({n['type']})",  # a block's layers indented under its instance
            _text_shape(n["output_shape"]),
            f"{n['params'] + n['buffers']:,}",
            f"{n['macs']:,}",
        )
        for n in report["nodes"]
    ]
    head = ("Layer (type)", "Output shape", "Params", "MACs")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    rule = "-" * (sum(widths) + 6)
    line = lambda r: (
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
    )
    print(f"{report['name']}  ({path})", file=out)
    print(rule, file=out)
    print(line(head), file=out)
    print(rule, file=out)
    for row in rows:
        print(line(row), file=out)
    print(rule, file=out)
    total, trainable = report["total_params"], report["trainable_params"]
    print(
        f"Total params: {total:,}  (trainable {trainable:,}, non-trainable {total - trainable:,})",
        file=out,
    )
    print(f"Total MACs: {_si(report['total_macs'])} per sample", file=out)
    print(
        f"Activations: {_si(report['activation_elements'])} values per sample", file=out
    )
    for kind in ("inputs", "outputs"):
        items = (
            ", ".join(f"{i['name']} {_text_shape(i['shape'])}" for i in report[kind])
            or "none"
        )
        print(f"{kind.capitalize()}: {items}", file=out)
    errors = sum(1 for d in report["diagnostics"] if d["severity"] == "error")
    warnings = len(report["diagnostics"]) - errors
    verdict = "is valid" if not errors else "has errors"
    print(
        f"Problems: {errors} error(s), {warnings} warning(s): the network {verdict}",
        file=out,
    )


def _first(outputs: dict | None) -> Any:
    return next(iter(outputs.values())) if outputs else None


def _json_shape(shape: Any) -> list | None:
    return list(shape) if shape is not None else None


def _text_shape(shape: list | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ")"


def _si(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
