"""The PyTorch classes of a project's blocks: one nn.Module per block, its exposed parameters as constructor arguments.

Each block's layers are emitted by their families in every context the network uses the block
in (`contexts`), and lined up into one class where they agree (`block_plan`, `unify`). A
switch that differs between instances is a flag: `if downsample:` builds its layers, and
`if self.downsample:` runs them, else what fed them passes through. An instance is
`BasicBlock(64, channels=128, stride=2, downsample=True)`; a repeated one an `nn.Sequential`
of its runs (an `nn.ModuleList` and a loop for several inputs), so state-dict keys follow the
module hierarchy (`layer2_0.down_conv.weight`, `stack.2.up.weight`). A block that is a chain of
layers named 0, 1, ... is an `nn.Sequential` itself, as torchvision's stages are
(`layer1.0.conv1.weight`); a number left out (a dropout the capture dropped: `classifier.0`,
`classifier.3`) holds an `nn.Identity`, so the layers after it keep their keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.codegen.block_plan import (
    Plan,
    View,
    code_order,
    param_names,
    passed_through,
    plan_block,
    runs_of,
)
from studio.codegen.checks import feeding_outputs, piece_of, read_ports
from studio.codegen.contexts import Context, Uses
from studio.codegen.layout import TAB, Nested, assign, fit, nested_lines
from studio.codegen.names import RESERVED, CodegenError, Namespace, comment_text
from studio.codegen.pytorch_helpers import HELPER_NAMES
from studio.codegen.unify import Piece, Template, template
from studio.graph.blocks import Block
from studio.graph.catalogue.pytorch_records import Call, Emitted, Site
from studio.graph.model import Graph, Node


@dataclass(frozen=True)
class Looped:
    """The forward of an instance repeated with several inputs: its runs called in a loop over an nn.ModuleList."""

    attr: str
    args: tuple[str, ...]
    loop: str  # the loop variable

    def lines(self, indent: str, target: str) -> list[str]:
        return [
            f"{indent}{target} = ({', '.join(self.args)})",
            f"{indent}for {self.loop} in {self.attr}:",
            f"{indent}{TAB}{target} = {self.loop}(*{target})",
        ]

    def text(self) -> str:
        """The loop as one string: what must read alike wherever the instance is used."""
        return "\n".join(self.lines("", "_"))


def instance_template(calls: list[Template], several: bool) -> Template:
    """What builds an instance: its one run, else an nn.Sequential (nn.ModuleList for several inputs) of its runs."""
    if len(calls) == 1:
        return calls[0]
    same = all(c == calls[0] for c in calls)
    repeated = ((None, calls[0]), (None, str(len(calls))))
    listed = tuple((None, c) for c in calls)
    if several:  # nn.ModuleList takes a list
        runs = Template("[for]", repeated, ("", "repeat")) if same else Template("[]", listed)
        return Template("nn.ModuleList", ((None, runs),))
    return Template("nn.Sequential", ((None, Template("*for", repeated, ("", "repeat"))),) if same else listed)


def instance_forward(attr: str, args: tuple[str, ...], runs: int, several: bool, loop: str) -> Call | Looped:
    """How forward calls an instance: once, or (repeated with several inputs) in a loop."""
    if runs > 1 and several:
        return Looped(attr, args, loop)
    return Call(attr, args)


class BlockClasses:
    """The classes of every block a network uses, inner blocks first, and how each context's instance is built."""

    def __init__(self, uses: Uses, taken: frozenset[str], reserved: frozenset[str] = RESERVED | HELPER_NAMES) -> None:
        self.uses = uses
        self.reserved = reserved  # the file's: every name its fixed text uses
        self.class_names = Namespace(reserved | taken)
        self.plans: list[Plan] = []
        self.by_name: dict[str, Plan] = {}
        self.of: dict[int, Plan] = {}  # id(context) -> the class it is built from
        self.members: dict[str, dict[str, str]] = {}  # block -> inner node id -> attribute (and local)
        self.flags: dict[str, dict[str, str]] = {}  # block -> exposed switch -> attribute
        self.loops: dict[str, str] = {}
        self.params: dict[str, dict[str, str]] = {}  # block -> exposed parameter -> constructor parameter
        for block in uses.order():
            self._plan(block)

    # ----- planning -----
    def _plan(self, block: Block) -> None:
        names = Namespace(self.reserved)
        members = {n: names.identifier(node.name) for n, node in block.graph.nodes.items() if node.type != "Output"}
        self.flags[block.name] = {e.name: names.identifier(e.name) for e in block.exposed if e.switches}
        self.loops[block.name] = names.identifier("run")
        self.members[block.name] = members
        reserved = self.reserved | frozenset(self.by_name)
        params = param_names(block, Namespace(reserved), members)
        self.params[block.name] = params

        def fallback() -> Namespace:
            spare = Namespace(reserved)
            for name in params.values():
                spare.identifier(name)
            return spare

        def emit(context: Context, view: View) -> tuple[dict[str, Piece | None], dict[str, object]] | None:
            return self._emit(block, context, view)

        plans = plan_block(block, self.uses.contexts[block.name], emit, members, params, fallback, self.uses)
        for index, plan in enumerate(plans):
            plan.name = self.class_names.class_name(block.name if index == 0 else f"{block.name}{index + 1}")
            self.plans.append(plan)
            self.by_name[plan.name] = plan
            for context in plan.contexts:
                if not context.probe:
                    self.of[id(context)] = plan

    def _emit(self, block: Block, context: Context, view: View) -> tuple[dict[str, Piece | None], dict[str, object]] | None:
        graph, members = block.graph, self.members[block.name]
        row: dict[str, Piece | None] = {}
        raw: dict[str, object] = {}
        for node_id, node in graph.nodes.items():
            if node.type in ("Input", "Output"):
                continue
            if node_id in view.off or not context.present(node_id):
                row[node_id] = None
                continue
            if node_id in view.flags and any(piece_of(graph, node_id, e.src_port) is not None for e in graph.out_edges(node_id)):
                return None  # a flagged layer giving a tuple: its stand-in would need one too
            here, result = context.graph.nodes[node_id], context.results[node_id]
            args = tuple(self._arg(graph, view, members, node_id, port.name) for port in here.spec.input_ports(here.params))
            if here.block is not None:
                runs = self.uses.runs(here, result)
                several = len(here.block.input_ids()) > 1
                call = instance_template([self.call(run) for run in runs], several)
                forward = instance_forward(f"self.{members[node_id]}", tuple(a or "None" for a in args), len(runs), several, self.loops[block.name])
                row[node_id] = Piece(("instance", forward.text()), (call,), dict(here.params))
                raw[node_id] = forward
                continue
            emitted = _emitted(here, Site(dict(here.params), result.inputs, f"self.{members[node_id]}", args, read_ports(graph, node_id)))
            fixed = (emitted.expr.text(), emitted.unpack, emitted.helpers, emitted.module is None)
            row[node_id] = Piece(fixed, (template(emitted.module),) if emitted.module is not None else (), dict(here.params))
            raw[node_id] = emitted
        return row, raw

    def _arg(self, graph: Graph, view: View, members: dict[str, str], node_id: str, port: str) -> str | None:
        edge = graph.source_of(node_id, port)
        found = view.source(graph, edge.src, edge.src_port) if edge is not None else None
        return None if found is None else local(graph, members, *found)

    def call(self, context: Context) -> Template:
        """The constructor call that builds one run of a block in `context`, every defaulted argument written."""
        plan = self.of[id(context)]
        column = plan.column(context)
        required = [p for p in plan.unified.params if p.default is None]
        named = [p for p in plan.unified.params if p.default is not None]
        args = [(None, p.texts[column]) for p in required] + [(p.name, p.texts[column]) for p in named]
        return Template(plan.name, tuple(args), tuple(p.name for p in required))

    # ----- writing -----
    def nested(self, item: Template | str) -> Nested | str:
        """A filled-in template as a call to lay out; a block's arguments at their defaults are left out."""
        if isinstance(item, str):
            return item
        if item.func in ("*for", "[for]"):
            inner, count = (value for _, value in item.args)
            starred = item.func == "*for"
            return Nested("*" if starred else "", (self.nested(inner),), str(count), "()" if starred else "[]")  # type: ignore[arg-type]
        if item.func == "[]":
            return Nested("", tuple(self.nested(value) for _, value in item.args), brackets="[]")  # type: ignore[arg-type]
        plan = self.by_name.get(item.func)
        defaults = {p.name: p.default for p in plan.unified.params} if plan is not None else {}
        args: list[str | Nested] = []
        for key, value in item.args:
            if key is not None and defaults.get(key) is not None and value == defaults[key]:
                continue
            shown = self.nested(value)  # type: ignore[arg-type]
            args.append(f"{key}={shown if isinstance(shown, str) else shown.text()}" if key is not None else shown)
        return Nested(item.func, tuple(args))

    def source(self) -> list[str]:
        """Every class, inner blocks first."""
        return ["\n".join(self._class(plan)) for plan in self.plans]

    def helpers(self) -> set[str]:
        """The helper classes the block classes use."""
        return {h for plan in self.plans for e in plan.emitted.values() if isinstance(e, Emitted) for h in e.helpers}

    def _class(self, plan: Plan) -> list[str]:
        block = plan.block
        base = "nn.Sequential" if self._sequential(plan) else "nn.Module"
        doc = _docstring(block)
        lines = [f"class {plan.name}({base}):", f'{TAB}"""{doc}"""', ""]
        signature = ["self"]
        for p in plan.unified.params:
            hint = p.annotation()
            text = f"{p.name}: {hint}" if hint else p.name
            signature.append(f"{text} = {p.default}" if p.default is not None else text)
        lines += fit(TAB, "def __init__(", signature, ") -> None:")
        if base == "nn.Sequential":
            items: list[Nested | str] = []
            for node_id in self._chain(block):  # a number left out (a dropout the capture dropped) holds an nn.Identity, so the rest keep theirs
                items += ["nn.Identity()"] * (int(block.graph.nodes[node_id].name) - len(items))
                module = self._module(plan, node_id)
                if module is not None:
                    items.append(module)
            return lines + nested_lines(TAB * 2, "", Nested("super().__init__", tuple(items)))
        lines.append(f"{TAB * 2}super().__init__()")
        flags, params = self.flags[block.name], self.params[block.name]
        tests = self._tests(plan)
        for name in dict.fromkeys(c for condition, test in tests.items() if test is None for c in condition):
            lines.append(f"{TAB * 2}self.{flags[name]} = {params[name]}")
        order = code_order(block.graph, {n for n, node in block.graph.nodes.items() if node.type in ("Input", "Output")} | set(plan.view.off), plan.view.flags)
        members = self.members[block.name]
        for condition, run in runs_of(plan.view.flags, order):
            built = [(n, self._module(plan, n)) for n in run]
            built = [(n, m) for n, m in built if m is not None]
            if not built:
                continue
            if not condition:
                for node_id, module in built:
                    lines += nested_lines(TAB * 2, f"self.{members[node_id]} = ", module)
                continue
            lines.append(f"{TAB * 2}if {' and '.join(params[c] for c in condition)}:")
            for node_id, module in built:
                lines += nested_lines(TAB * 3, f"self.{members[node_id]} = ", module)
            lines.append(f"{TAB * 2}else:")
            lines += [f"{TAB * 3}self.{members[node_id]} = None" for node_id, _ in built]
        return lines + ["", *self._forward(plan, order)]

    def _tests(self, plan: Plan) -> dict[tuple[str, ...], str | None]:
        """How forward tests each flag condition: a module built only under it is not None; else (None) stored flags."""
        members = self.members[plan.block.name]
        found: dict[tuple[str, ...], str | None] = {}
        for node_id, condition in plan.view.flags.items():
            if plan.unified.calls.get(node_id) and found.get(condition) is None:
                found[condition] = f"self.{members[node_id]} is not None"
            found.setdefault(condition, None)
        return found

    def _module(self, plan: Plan, node_id: str) -> Nested | str | None:
        calls = plan.unified.calls.get(node_id, ())
        if not calls:
            return None
        return self.nested(calls[0])

    def _forward(self, plan: Plan, order: list[str]) -> list[str]:
        block, graph = plan.block, plan.block.graph
        members, flags = self.members[block.name], self.flags[block.name]
        inputs, outputs = block.input_ids(), block.output_ids()
        params = ["self", *(f"{members[n]}: torch.Tensor" for n in inputs)]
        returns = "torch.Tensor" if len(outputs) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(outputs))}]"
        lines = fit(TAB, "def forward(", params, f") -> {returns}:")
        live = feeding_outputs(graph)
        for condition, run in runs_of(plan.view.flags, order):
            running = [n for n in run if n in live]
            if not running:
                continue
            indent = TAB * 3 if condition else TAB * 2
            if condition:
                test = self._tests(plan)[condition] or " and ".join(f"self.{flags[c]}" for c in condition)
                lines.append(f"{TAB * 2}if {test}:")
            for node_id in running:
                lines += self._step(plan, node_id, indent)
            if condition:
                lines.append(f"{TAB * 2}else:")
                for node_id, found in passed_through(graph, plan.view, run, live):
                    value = local(graph, members, *found) if found is not None else "None"
                    lines.append(f"{TAB * 3}{members[node_id]} = {value}")
        results = []
        for out in outputs:
            edge = graph.source_of(out, "in")
            found = plan.view.source(graph, edge.src, edge.src_port) if edge is not None else None
            results.append(local(graph, members, *found) if found is not None else "None")
        plain = f"{TAB * 2}return {', '.join(results)}"
        return lines + ([plain] if len(plain) <= 88 else fit(TAB * 2, "return (", results, ")"))

    def _step(self, plan: Plan, node_id: str, indent: str) -> list[str]:
        name = self.members[plan.block.name][node_id]
        emitted = plan.emitted[node_id]
        if isinstance(emitted, Looped):
            return emitted.lines(indent, name)
        if isinstance(emitted, Call):
            return assign(indent, name, emitted)
        assert isinstance(emitted, Emitted)
        return assign(indent, f"{name}, _" if emitted.unpack else name, emitted.expr)

    # ----- the chain of numbered layers -----
    def _chain(self, block: Block) -> list[str]:
        """The layers of a block that is one chain Input -> 0 -> 1 -> ... -> Output (numbers may be left out), in order; else []."""
        graph = block.graph
        inputs, outputs = block.input_ids(), block.output_ids()
        if len(inputs) != 1 or len(outputs) != 1 or len(graph.edges) != len(graph.nodes) - 1:
            return []
        found, node_id = [], inputs[0]
        while True:
            readers = graph.out_edges(node_id)
            if len(readers) != 1:
                return []
            node_id = readers[0].dst
            if node_id == outputs[0]:
                break
            found.append(node_id)
        numbers = [graph.nodes[n].name for n in found]
        if not all(re.fullmatch(r"0|[1-9]\d{0,3}", n) for n in numbers) or [int(n) for n in numbers] != sorted({int(n) for n in numbers}):
            return []
        return found

    def _sequential(self, plan: Plan) -> bool:
        chain = self._chain(plan.block)
        if not chain or plan.view.flags or plan.view.off:
            return False
        for node_id in chain:
            emitted = plan.emitted.get(node_id)
            member = f"self.{self.members[plan.block.name][node_id]}"
            if isinstance(emitted, Emitted):
                if emitted.module is None or emitted.unpack or not isinstance(emitted.expr, Call) or emitted.expr.func != member:
                    return False
            elif not (isinstance(emitted, Call) and emitted.func == member):
                return False
        return True

    # ----- where each layer's weights live -----
    def paths(self, context: Context, flat: str, path: str, found: dict[str, str]) -> None:
        """Map each flattened layer id of one run (`flat`: its prefix, `n5.0.`) to its module path (`path`: `layer1_0.`)."""
        plan = self.of[id(context)]
        block = plan.block
        sequential = self._sequential(plan)
        for node_id, node in context.graph.nodes.items():
            if node.type in ("Input", "Output"):
                continue
            member = block.graph.nodes[node_id].name if sequential else self.members[block.name][node_id]
            if node.block is not None:
                runs = self.uses.runs(node, context.results[node_id])
                for k, run in enumerate(runs):
                    self.paths(run, f"{flat}{node_id}.{k}.", f"{path}{member}." + (f"{k}." if len(runs) > 1 else ""), found)
            elif plan.unified.calls.get(node_id):
                found[f"{flat}{node_id}"] = f"{path}{member}"


def local(graph: Graph, members: dict[str, str], src: str, port: str) -> str:
    """The local that holds a tensor: the layer's, or one piece of its tuple."""
    index = piece_of(graph, src, port)
    return members[src] if index is None else f"{members[src]}[{index}]"


def _emitted(node: Node, site: Site) -> Emitted:
    if node.spec.pytorch is None:
        raise CodegenError(f"cannot generate PyTorch code: layer type {node.type} has no PyTorch form")
    return node.spec.pytorch(site)


def _docstring(block: Block) -> str:
    text = comment_text(block.description.splitlines()[0] if block.description.strip() else "", 80)
    text = text.replace("\\", "/").replace('"', "'")
    return text or f"The block {block.name} of a Layer Studio project."


__all__ = ["BlockClasses", "Looped", "instance_forward", "instance_template", "local"]
