"""The Keras functions of a project's blocks: one function per block that applies its layers, named after the instance.

A block is a function, not a `layers.Layer` subclass: `basic_block(x, "layer1_0", channels=128)`
applies ordinary Keras layers named `layer1_0_conv1`, ..., so the model stays one functional
graph of built-in layers, which `model.summary()` lists, `get_layer` finds (the weights are
copied from PyTorch layer by layer) and `load_weights` reads without custom objects; a Layer
subclass would need `build`, `get_config` and registration to save and load. The contexts a
function serves are lined up as the PyTorch classes are (`block_plan`); a repeated instance is
a loop, and a switch that differs is an `if` on the function's argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from studio.codegen.block_plan import (
    Plan,
    View,
    code_order,
    param_names,
    passed_through,
    plan_block,
    runs_of,
)
from studio.codegen.checks import feeding_outputs, piece_of, problem_line, read_ports
from studio.codegen.contexts import Context, Uses
from studio.codegen.layout import TAB, Nested, fit, nested_lines
from studio.codegen.names import Namespace
from studio.codegen.unify import Fixed, Label, Piece, Template, template
from studio.graph.blocks import Block
from studio.graph.catalogue.base import Inexpressible, Unsupported
from studio.graph.catalogue.keras_records import Apply, Emitted, Site, Step
from studio.graph.catalogue.literals import literal
from studio.graph.catalogue.pytorch_records import Call, Raw
from studio.graph.model import Graph

INDEX = "{index}"  # where a loop's repeat goes in a Label


@dataclass(frozen=True)
class Applied:
    """An instance in Keras code: its function called once, in a loop over its repeats, or once per repeat."""

    target: str
    inputs: tuple[str, ...]
    calls: tuple[Template, ...]  # the filled-in calls: one, or one per repeat
    loop: str = ""  # the loop variable, where the repeats are one call in a loop

    def text(self) -> str:
        """What must read alike wherever the instance is used: its form, not its arguments."""
        return f"{self.target}/{self.inputs}/{len(self.calls)}/{bool(self.loop)}"


def function_name(name: str) -> str:
    """`BasicBlock` -> `basic_block`, `MLP` -> `mlp_block`: snake case, and a block said so (instances are named otherwise)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return snake if snake.endswith("block") else f"{snake}_block"


class BlockFunctions:
    """The functions of every block a network uses, inner blocks first, and how each context's instance calls one."""

    def __init__(self, uses: Uses, names: Namespace, reserved: frozenset[str]) -> None:
        self.uses = uses
        self.names = names  # the file's: function names are claimed there
        self.reserved = reserved
        self.plans: list[Plan] = []
        self.by_name: dict[str, Plan] = {}
        self.of: dict[int, Plan] = {}
        self.members: dict[str, dict[str, str]] = {}
        self.label: dict[str, str] = {}  # block -> the function's `name` parameter
        self.loops: dict[str, str] = {}
        self.params: dict[str, dict[str, str]] = {}
        self.problems: list[str] = []  # layers inside blocks Keras cannot express, for the driver to list
        for block in uses.order():
            self._plan(block)

    # ----- planning -----
    def _plan(self, block: Block) -> None:
        names = Namespace(self.reserved | frozenset(self.by_name))
        self.label[block.name] = names.identifier("name")
        inputs = block.input_ids()
        members = {n: names.identifier(block.graph.nodes[n].name) for n in inputs}
        params = param_names(block, names, members)
        members |= {n: names.identifier(node.name) for n, node in block.graph.nodes.items() if node.type not in ("Input", "Output")}
        self.loops[block.name] = names.identifier("index")
        self.members[block.name], self.params[block.name] = members, params
        claimed: set[str] = set()

        def fallback() -> Namespace:
            spare = names.copy()
            for name in claimed:
                spare.identifier(name)
            return spare

        def emit(context: Context, view: View) -> tuple[dict[str, Piece | None], dict[str, Any]] | None:
            local = names.copy()
            found = self._emit(block, context, view, local)
            claimed.update(local.taken())
            return found

        plans = plan_block(block, self.uses.contexts[block.name], emit, members, params, fallback, self.uses)
        for index, plan in enumerate(plans):
            plan.name = self.names.identifier(function_name(block.name) + ("" if index == 0 else str(index + 1)))
            self.plans.append(plan)
            self.by_name[plan.name] = plan
            for context in plan.contexts:
                if not context.probe:
                    self.of[id(context)] = plan

    def _emit(self, block: Block, context: Context, view: View, names: Namespace) -> tuple[dict[str, Piece | None], dict[str, Any]] | None:
        graph, members = block.graph, self.members[block.name]
        live = feeding_outputs(graph)
        anchor = members[block.input_ids()[0]] if block.input_ids() else ""
        row: dict[str, Piece | None] = {}
        raw: dict[str, Any] = {}
        for node_id, node in graph.nodes.items():
            if node.type in ("Input", "Output"):
                continue
            if node_id in view.off or not context.present(node_id) or node_id not in live:
                row[node_id] = None
                continue
            if node_id in view.flags and any(piece_of(graph, node_id, e.src_port) is not None for e in graph.out_edges(node_id)):
                return None
            here, result = context.graph.nodes[node_id], context.results[node_id]
            args = tuple(self._arg(graph, view, members, node_id, port.name) for port in here.spec.input_ports(here.params))
            if here.block is not None:
                runs = self.uses.runs(here, result)
                applied = self.applied(members[node_id], tuple(a or "None" for a in args), runs, self.loops[block.name], members[node_id])
                row[node_id] = Piece(("instance", applied.text()), applied.calls, dict(here.params))
                raw[node_id] = applied
                continue
            target = here.spec.targets["keras"]
            if isinstance(target, Unsupported) or here.spec.keras is None:
                reason = target.reason if isinstance(target, Unsupported) else "its layer type has no Keras form"
                self.problems.append(problem_line(here, f"{reason} (inside block {block.name})"))
                row[node_id] = None
                continue
            assert result.outputs
            site = Site(dict(here.params), result.inputs, next(iter(result.outputs.values())), members[node_id], args, names.identifier, anchor, read_ports(graph, node_id))
            try:
                emitted = here.spec.keras(site)
            except Inexpressible as err:
                self.problems.append(problem_line(here, f"{err} (inside block {block.name})"))
                row[node_id] = None
                continue
            fixed = tuple(_fixed(step) for step in emitted.steps) + (emitted.helpers,)
            calls = tuple(template(_call(step), labels=True) for step in emitted.steps if _call(step) is not None)
            row[node_id] = Piece(fixed, calls, dict(here.params))
            raw[node_id] = emitted
        return row, raw

    def _arg(self, graph: Graph, view: View, members: dict[str, str], node_id: str, port: str) -> str | None:
        edge = graph.source_of(node_id, port)
        found = view.source(graph, edge.src, edge.src_port) if edge is not None else None
        return None if found is None else _local(graph, members, *found)

    def applied(self, target: str, inputs: tuple[str, ...], runs: tuple[Context, ...], loop: str, label: str) -> Applied:
        """How an instance's runs are called: once, in a loop where they agree, else one call each."""
        several = len(inputs) > 1
        if len(runs) == 1:
            return Applied(target, inputs, (self.call(runs[0], inputs, Label(label)),))
        calls = [self.call(run, (), Label("")) for run in runs]
        if all(c == calls[0] for c in calls):
            fed = (f"*{target}",) if several else (target,)
            call = self.call(runs[0], fed, Label(f"{label}_{INDEX}"))
            return Applied(target, inputs, (Template("*loop", ((None, call), (None, str(len(runs)))), ("", "repeat")),), loop)
        found = []
        for k, run in enumerate(runs):
            fed = inputs if k == 0 else (f"*{target}",) if several else (target,)
            found.append(self.call(run, fed, Label(f"{label}_{k}")))
        return Applied(target, inputs, tuple(found))

    def call(self, context: Context, inputs: tuple[str, ...], label: Label) -> Template:
        """The call of a block's function that applies one run, every defaulted argument written."""
        plan = self.of[id(context)]
        column = plan.column(context)
        required = [p for p in plan.unified.params if p.default is None]
        named = [p for p in plan.unified.params if p.default is not None]
        args = [(None, Fixed(x)) for x in inputs] + [(None, label)]
        args += [(None, p.texts[column]) for p in required] + [(p.name, p.texts[column]) for p in named]
        return Template(plan.name, tuple(args), ("",) * (len(inputs) + 1) + tuple(p.name for p in required))

    # ----- writing -----
    def nested(self, item: Any, prefix: str, loop: str) -> Nested | str:
        """A filled-in call as text: Labels under `prefix` (the function's `name`; "" at the top level), defaults left out."""
        if isinstance(item, Label):
            text = item.local.replace(INDEX, "{" + loop + "}")
            if prefix:
                return f'f"{{{prefix}}}_{text}"' if text else prefix
            return f'f"{text}"' if "{" in text else literal(text)
        if isinstance(item, Fixed):
            return item.text
        if isinstance(item, str):
            return item
        assert isinstance(item, Template)
        plan = self.by_name.get(item.func)
        defaults = {p.name: p.default for p in plan.unified.params} if plan is not None else {}
        args: list[str | Nested] = []
        for key, value in item.args:
            if key is not None and defaults.get(key) is not None and value == defaults[key]:
                continue
            shown = self.nested(value, prefix, loop)
            args.append(f"{key}={shown if isinstance(shown, str) else shown.text()}" if key is not None else shown)
        return Nested(item.func, tuple(args))

    def applied_lines(self, indent: str, applied: Applied, calls: tuple[Template, ...], prefix: str) -> list[str]:
        """The statements that apply an instance (`calls`: its filled-in calls)."""
        target = applied.target
        if len(calls) == 1 and calls[0].func == "*loop":
            call, count = (value for _, value in calls[0].args)
            start = applied.inputs[0] if len(applied.inputs) == 1 else f"({', '.join(applied.inputs)})"
            body = nested_lines(indent + TAB, f"{target} = ", self.nested(call, prefix, applied.loop))
            return [f"{indent}{target} = {start}", f"{indent}for {applied.loop} in range({count}):", *body]
        lines = []
        for call in calls:
            lines += nested_lines(indent, f"{target} = ", self.nested(call, prefix, applied.loop))
        return lines

    def source(self, step_lines: Any) -> list[str]:
        """Every function, inner blocks first; `step_lines(indent, target, expr)` lays out one Keras statement."""
        return ["\n".join(self._function(plan, step_lines)) for plan in self.plans]

    def helpers(self) -> set[str]:
        return {h for plan in self.plans for raw in plan.raws for e in raw.values() if isinstance(e, Emitted) for h in e.helpers}

    def _function(self, plan: Plan, step_lines: Any) -> list[str]:
        block, graph = plan.block, plan.block.graph
        members, label = self.members[block.name], self.label[block.name]
        signature = [members[n] for n in block.input_ids()] + [f"{label}: str"]
        for p in plan.unified.params:
            hint = p.annotation()
            text = f"{p.name}: {hint}" if hint else p.name
            signature.append(f"{text} = {p.default}" if p.default is not None else text)
        lines = fit("", f"def {plan.name}(", signature, "):")
        doc = f"The block {block.name} of a Layer Studio project: its layers named `{label}_<layer>`."
        lines.append(f'{TAB}"""{doc}"""')
        skip = {n for n, node in graph.nodes.items() if node.type in ("Input", "Output")} | set(plan.view.off)
        order = code_order(graph, skip, plan.view.flags)
        live = feeding_outputs(graph)
        params = self.params[block.name]
        for condition, run in runs_of(plan.view.flags, order):
            running = [n for n in run if n in live and n in plan.emitted]
            if not running:
                continue
            indent = TAB * 2 if condition else TAB
            if condition:
                lines.append(f"{TAB}if {' and '.join(params[c] for c in condition)}:")
            for node_id in running:
                lines += self._layer(plan, node_id, indent, step_lines)
            if condition:
                lines.append(f"{TAB}else:")
                for node_id, found in passed_through(graph, plan.view, run, live):
                    value = _local(graph, members, *found) if found is not None else "None"
                    lines.append(f"{TAB * 2}{members[node_id]} = {value}")
        results = []
        for out in block.output_ids():
            edge = graph.source_of(out, "in")
            found = plan.view.source(graph, edge.src, edge.src_port) if edge is not None else None
            results.append(_local(graph, members, *found) if found is not None else "None")
        return lines + [f"{TAB}return {', '.join(results)}"]

    def _layer(self, plan: Plan, node_id: str, indent: str, step_lines: Any) -> list[str]:
        label = self.label[plan.block.name]
        emitted = plan.emitted[node_id]
        calls = plan.unified.calls.get(node_id, ())
        if isinstance(emitted, Applied):
            return self.applied_lines(indent, emitted, calls, label)
        lines, filled = [], iter(calls)
        for step in emitted.steps:
            expr = step.expr
            if _call(step) is not None:
                done = self.nested(next(filled), label, "")
                call = Call(done.func, tuple(a if isinstance(a, str) else a.text() for a in done.args)) if isinstance(done, Nested) else None
                assert call is not None
                expr = Apply(call, expr.args) if isinstance(expr, Apply) else call
            lines += step_lines(indent, step.target, expr)
        return lines

    def layer_names(self, runs: tuple[Context, ...], prefix: str) -> list[str]:
        """The names of the Keras layers an instance's runs make under `prefix`."""
        found: list[str] = []
        for k, run in enumerate(runs):
            self._names(run, prefix + (f"_{k}" if len(runs) > 1 else ""), found)
        return found

    def _names(self, context: Context, prefix: str, found: list[str]) -> None:
        plan = self.of[id(context)]
        members = self.members[plan.block.name]
        for node_id, emitted in plan.raws[plan.column(context)].items():
            if isinstance(emitted, Applied):
                runs = self.uses.runs(context.graph.nodes[node_id], context.results[node_id])
                found += self.layer_names(runs, f"{prefix}_{members[node_id]}")
            else:
                found += [f"{prefix}_{name}" for step in emitted.steps for name in layer_names(step)]

    # ----- where each layer's weights go -----
    def weights(self, context: Context, prefix: str, flat: str, found: dict[str, dict[str, Any]]) -> None:
        """For each flattened layer of one run (`flat`: `n5.0.`), its Keras layers by name (`prefix`: `layer1_0`) and converters."""
        plan = self.of[id(context)]
        raw = plan.raws[plan.column(context)]
        members = self.members[plan.block.name]
        for node_id, emitted in raw.items():
            if isinstance(emitted, Applied):
                runs = self.uses.runs(context.graph.nodes[node_id], context.results[node_id])
                for k, run in enumerate(runs):
                    inner = f"{prefix}_{members[node_id]}" + (f"_{k}" if len(runs) > 1 else "")
                    self.weights(run, inner, f"{flat}{node_id}.{k}.", found)
            elif emitted.weights:
                found[f"{flat}{node_id}"] = {f"{prefix}_{name}": convert for name, convert in emitted.weights.items()}


def layer_names(step: Step) -> list[str]:
    """The name a Keras statement gives its layer (`name="conv1"`), if it makes one."""
    call = _call(step)
    found = template(call, labels=True).args if call is not None else ()
    return [value.local for key, value in found if key == "name" and isinstance(value, Label)]


def _call(step: Step) -> Call | None:
    if isinstance(step.expr, Apply):
        return step.expr.layer
    return step.expr if isinstance(step.expr, Call) else None


def _fixed(step: Step) -> tuple[Any, ...]:
    expr = step.expr
    if isinstance(expr, Apply):
        return (step.target, "apply", expr.args)
    if isinstance(expr, Call):
        return (step.target, "call")
    assert isinstance(expr, Raw) or hasattr(expr, "text")
    return (step.target, "raw", expr.text())


def _local(graph: Graph, members: dict[str, str], src: str, port: str) -> str:
    index = piece_of(graph, src, port)
    return members[src] if index is None else f"{members[src]}[{index}]"
