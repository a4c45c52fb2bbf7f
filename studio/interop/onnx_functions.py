"""ONNX model-local functions inlined into the graph, their expansion bounded from the call graph before it happens."""

# NOTE: a function that calls another twice, forty levels deep, is a file of a few kilobytes that
# inlines to a trillion nodes, and one that calls itself sends ONNX's inliner into endless recursion.
# So the expansion is counted first, each function once (memo) and without expanding anything: a
# cycle, calls nested deeper than MAX_FUNCTION_DEPTH, more nodes than the import's node limit, or
# more than MAX_INLINED_BYTES of nodes copied (a function's Constant is copied at every call) is
# refused before `onnx.inliner` runs. The inlined nodes keep their call's module scope, so a model
# exported with `export_modules_as_functions` still comes back with its modules as blocks.

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from studio.interop.common import ModelImportError
from studio.interop.onnx_scopes import CLASS_HIERARCHY, NAME_SCOPES, NAMESPACE

if TYPE_CHECKING:
    import onnx

MAX_FUNCTION_DEPTH = 64  # functions calling functions, this many deep at most
MAX_INLINED_BYTES = 2**28  # the bytes of nodes inlining may copy into the graph
SCOPE_KEYS = (NAME_SCOPES, CLASS_HIERARCHY, NAMESPACE)

Key = tuple[str, str, str]  # domain, name, overload


class FunctionCalls:
    """A model's local functions as ONNX's inliner takes them, and what each call of one expands to."""

    def __init__(self, model: onnx.ModelProto, path: Path, max_nodes: int) -> None:
        self.model, self.path, self.max_nodes = model, path, max_nodes
        self.versions = {_domain(o.domain): o.version for o in model.opset_import}
        self.functions = {_function_key(f): f for f in model.functions if not self._differing(f)}
        self.sizes: dict[Key, tuple[int, int]] = {}
        self.calling: list[Key] = []  # the chain of calls being counted

    def check(self) -> None:
        """Refuse a graph whose inlined form would pass the node limit or MAX_INLINED_BYTES (or holds a cycle of calls)."""
        nodes, copied = self._body(self.model.graph.node, top=True)
        if nodes > self.max_nodes:
            raise ModelImportError(
                f"{self.path}: has more than {self.max_nodes:,} nodes once its local functions are inlined, the most an import takes"
            )
        if copied > MAX_INLINED_BYTES:
            raise ModelImportError(
                f"{self.path}: inlining its local functions would copy more than {MAX_INLINED_BYTES:,} bytes of nodes into its graph, "
                "the most an import takes"
            )

    def inline(self) -> None:
        """Replace every call of a local function by the function's nodes (recursively), in place, after `check`.

        The inliner is handed the graph without its tensors' data (their names only, which it keeps
        clear of), so the weights are not copied three times on the way through it.
        """
        import onnx
        import onnx.inliner

        self.check()
        model = self.model
        light = onnx.ModelProto(ir_version=model.ir_version)
        light.opset_import.extend(model.opset_import)
        light.functions.extend(model.functions)
        light.graph.name = model.graph.name
        light.graph.node.extend(model.graph.node)
        light.graph.input.extend(model.graph.input)
        light.graph.output.extend(model.graph.output)
        names = [t.name for t in model.graph.initializer] + [t.values.name for t in model.graph.sparse_initializer]
        light.graph.initializer.extend(onnx.TensorProto(name=name) for name in names)
        try:
            inlined = onnx.inliner.inline_local_functions(light)
        except Exception as err:  # noqa: BLE001 - the inliner raises many types on malformed functions
            text = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise ModelImportError(f"{self.path}: its local functions cannot be inlined ({text})") from None
        left = {_function_key(f): f for f in inlined.functions}
        for node in inlined.graph.node:
            function = left.get(_call_key(node))
            if function is not None:
                raise ModelImportError(
                    f"{self.path}: local function {function.domain}.{function.name} imports opset {self._differing(function)}; "
                    "Layer Studio inlines functions written for the model's own opsets only"
                )
        self._keep_scopes(list(inlined.graph.node))
        del model.graph.node[:]
        model.graph.node.extend(inlined.graph.node)
        del model.functions[:]

    def _keep_scopes(self, inlined: list[onnx.NodeProto]) -> None:
        """Give each inlined node its call's module scope: the call's scope metadata, or the scope path its name begins with."""
        spans, start = [], 0
        for call in self.model.graph.node:
            count = self._size(_call_key(call))[0] if _call_key(call) in self.functions else 1
            spans.append((call, inlined[start : start + count]))
            start += count
        if start != len(inlined):
            return  # not laid out as counted: the nodes keep the inliner's names
        for call, nodes in spans:
            if _call_key(call) not in self.functions:
                continue
            scope = [p for p in call.metadata_props if p.key in SCOPE_KEYS]
            prefix = call.name[: call.name.rindex("/") + 1] if call.name.startswith("/") else ""
            for node in nodes:
                if scope and not any(p.key in SCOPE_KEYS for p in node.metadata_props):
                    node.metadata_props.extend(scope)
                if prefix and not node.name.startswith("/"):
                    node.name = prefix + (node.name or node.op_type)

    def _size(self, key: Key) -> tuple[int, int]:
        """The nodes one call of the function expands to, and their bytes."""
        if key in self.sizes:
            return self.sizes[key]
        if key in self.calling:
            chain = " -> ".join(".".join(filter(None, k[:2])) for k in [*self.calling[self.calling.index(key) :], key])
            raise ModelImportError(f"{self.path}: its local functions call themselves ({chain}); ONNX functions cannot recurse")
        if len(self.calling) >= MAX_FUNCTION_DEPTH:
            raise ModelImportError(
                f"{self.path}: its local functions call each other more than {MAX_FUNCTION_DEPTH} deep, the most an import takes"
            )
        self.calling.append(key)
        found = self._body(self.functions[key].node, top=False)
        self.calling.pop()
        self.sizes[key] = found
        return found

    def _body(self, body: Iterable[onnx.NodeProto], top: bool) -> tuple[int, int]:
        """The nodes of `body` with every call expanded, and the bytes of the nodes the calls copy in (counting stops past the limits)."""
        nodes = copied = 0
        for node in body:
            key = _call_key(node)
            if key in self.functions:
                more, extra = self._size(key)
            else:
                more, extra = 1, 0 if top else node.ByteSize()
            nodes, copied = nodes + more, copied + extra
            if nodes > self.max_nodes or copied > MAX_INLINED_BYTES:
                break
        return nodes, copied

    def _differing(self, function: onnx.FunctionProto) -> str:
        """The opsets `function` imports at another version than the model ("" for none): the inliner leaves such a function alone."""
        return ", ".join(
            f"{o.domain or 'ai.onnx'} {o.version} (the model: {self.versions[_domain(o.domain)]})"
            for o in function.opset_import
            if self.versions.get(_domain(o.domain), o.version) != o.version
        )


def _domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def _function_key(function: onnx.FunctionProto) -> Key:
    return _domain(function.domain), function.name, function.overload


def _call_key(node: onnx.NodeProto) -> Key:
    """The function a node would call: the inliner matches domain (the default one has two spellings), name and overload."""
    return _domain(node.domain), node.op_type, node.overload
