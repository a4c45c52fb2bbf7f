"""The PyTorch module an ONNX node came from, as the exporters record it: its path of module names and their classes.

TorchScript's exporter names a node after its module scopes (`/layer1/layer1.0/conv1/Conv`:
each level repeats its parent's name before a dot, the operator comes last); the dynamo exporter
leaves node names plain and writes the scopes into the node's metadata
(`pkg.torch.onnx.name_scopes`, full dotted paths, with `pkg.torch.onnx.class_hierarchy` giving
each level's class; older versions write one `namespace` string of `path: class` pairs).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

NAME_SCOPES = "pkg.torch.onnx.name_scopes"
CLASS_HIERARCHY = "pkg.torch.onnx.class_hierarchy"
NAMESPACE = "namespace"
STACK_TRACE = "pkg.torch.onnx.stack_trace"
FX_NODE = "pkg.torch.onnx.fx_node"
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in \S+\n\s*(?P<code>[^\n]*)')
_ATEN = re.compile(r"target=torch\.ops\.(?P<op>[\w.]+?)(\.default)?\]")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.(\d+|[A-Za-z_]\w*))+")


@dataclass(frozen=True)
class Scope:
    """Where a layer sits in the source model: the module names from the top (`layer1`, `0`, `conv1`), their classes, and the operator's own name."""

    path: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()  # each level's class name ("" where the file does not say)
    op: str = ""

    def __bool__(self) -> bool:
        return bool(self.path)


NO_SCOPE = Scope()


def node_scope(node: onnx.NodeProto) -> Scope:
    """The module scope the exporter recorded for `node`, or NO_SCOPE."""
    meta = {p.key: p.value for p in node.metadata_props}
    if NAME_SCOPES in meta:
        return _from_metadata(meta)
    if NAMESPACE in meta:
        return _from_namespace(meta[NAMESPACE])
    return _from_name(node.name)


def node_origin(node: onnx.NodeProto) -> str:
    """Where a dynamo-exported node came from in the user's code: `aten.sort at model.py line 12: <code>`, or "" when the file does not say.

    The line is the innermost frame outside torch itself, so a functional call points at the caller.
    """
    meta = {p.key: p.value for p in node.metadata_props}
    op = _ATEN.search(meta.get(FX_NODE, ""))
    frames = [f for f in _FRAME.finditer(meta.get(STACK_TRACE, "")) if not _inside_torch(f["file"])]
    parts = [op["op"]] if op else []
    if frames:
        frame = frames[-1]
        parts.append(f"at {frame['file'].replace(chr(92), '/').rsplit('/', 1)[-1]} line {frame['line']}: {frame['code'].strip()[:80]}")
    return " ".join(parts)


def _inside_torch(path: str) -> bool:
    parts = path.replace("\\", "/").split("/")
    return "torch" in parts[:-1] and ("site-packages" in parts or "dist-packages" in parts)


def _from_name(name: str) -> Scope:
    """TorchScript's `/layer1/layer1.0/conv1/Conv`: the levels between the slashes, the operator last.

    A dotted path of identifiers (`layer1_0.conv1`, as Layer Studio's own ONNX export names the layers
    inside block instances) reads the same way: the modules, then the layer.
    """
    if _DOTTED.fullmatch(name):
        parts = name.split(".")
        levels = [".".join(parts[: k + 1]) for k in range(len(parts) - 1)]
        return _scope(levels, [""] * len(levels), parts[-1])
    if not name.startswith("/"):
        return NO_SCOPE
    parts = name.split("/")[1:]
    if not all(parts):
        return NO_SCOPE
    levels = parts[:-1]
    return _scope(levels, [""] * len(levels), parts[-1])


def _from_metadata(meta: dict[str, str]) -> Scope:
    scopes = _literal_list(meta.get(NAME_SCOPES, ""))
    classes = _literal_list(meta.get(CLASS_HIERARCHY, ""))
    if len(scopes) < 2 or scopes[0] != "":  # the root module's scope is ''; anything else is the exporter's own
        return NO_SCOPE
    levels = scopes[1:-1]
    kinds = classes[1:-1] if len(classes) == len(scopes) else [""] * len(levels)
    return _scope(levels, [_short(c) for c in kinds], scopes[-1])


def _from_namespace(text: str) -> Scope:
    """`: pkg.Net/layer1: torch.nn.Sequential/layer1.0: pkg.Block/add_3: aten.add.Tensor`."""
    pairs = [part.split(": ", 1) for part in text.split("/")]
    if len(pairs) < 2 or any(len(p) != 2 for p in pairs) or pairs[0][0].strip():
        return NO_SCOPE
    levels = [p[0] for p in pairs[1:-1]]
    return _scope(levels, [_short(p[1]) for p in pairs[1:-1]], pairs[-1][0])


def _local_names(levels: list[str]) -> tuple[str, ...]:
    """Each level's own name: `layer1.0` below `layer1` is `0`, `downsample.0` below `downsample` is `0`."""
    names = []
    previous = ""
    for level in levels:
        names.append(level[len(previous) + 1 :] if previous and level.startswith(previous + ".") else level)
        previous = level
    return tuple(names)


def _scope(levels: list[str], classes: list[str], op: str) -> Scope:
    """The scope of these levels; a level of a container that has no forward of its own (`h.0` below a model: the
    nn.ModuleList `h`, then its `0`) becomes the two levels its state-dict keys have."""
    names, kinds = [], []
    for name, kind in zip(_local_names(levels), classes):
        parts = name.split(".")
        names += parts
        kinds += ["ModuleList"] * (len(parts) - 1) + [kind]
    return Scope(tuple(names), tuple(kinds), op)


def _literal_list(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _short(qualified: str) -> str:
    """`torch.nn.modules.container.Sequential` -> `Sequential`."""
    return qualified.rsplit(".", 1)[-1].strip()
