"""What a PyTorch file offers to import, read from its syntax tree: the file is parsed, never run in the editor.

The names offered are the module classes that can be built with no arguments and the top-level
functions that take none and return something that may be a module; a class needing arguments is
left out, since the capture builds NAME with none. Telling a module class from another class goes
by its bases: `nn.Module` and its relatives by name, or a class of the same file that is one.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from studio.graph.regular_files import read_or_refuse

MAX_BYTES = 20_000_000  # larger than any model source; refused before parsing so the editor never stalls
MODULE_BASES = {"Module", "Sequential"}  # torch.nn's classes a model subclasses; ModuleList and ModuleDict have no forward
MODULE_SUFFIXES = ("Module", "Model")  # LightningModule, PreTrainedModel, BertModel, keras-style Model wrappers
NOT_MODULES = (ast.Constant, ast.JoinedStr, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Lambda)
TENSOR_MAKERS = {"torch", "np", "numpy"}  # `torch.randn(...)` returns a tensor, not a module


class CodeScanError(Exception):
    """The file cannot be read as Python source; the message names it and says why."""


@dataclass(frozen=True)
class CodeScan:
    """The names a file offers as NAME (classes first, in file order), which of them to suggest, and what else it defines."""

    path: Path
    classes: tuple[str, ...]
    functions: tuple[str, ...]
    suggested: str
    has_example_inputs: bool
    defined: frozenset[str]  # every name bound at top level (classes, functions, imports, assignments)
    star_import: bool  # `from x import *`: a name may come from there, so none can be ruled out

    @property
    def names(self) -> tuple[str, ...]:
        return self.classes + self.functions

    def defines(self, name: str) -> bool:
        """True when `name` may exist at the file's top level once it has run."""
        return self.star_import or name in self.defined


def scan_code(path: Path) -> CodeScan:
    """Parse `path` and list what it offers; raises CodeScanError for a file that is not readable Python."""
    path = Path(path)
    source = read_or_refuse(path, MAX_BYTES, CodeScanError, lambda size: f"{size // 1_000_000} MB is too large for Python source; choose the .py file that defines the model")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as err:
        where = f"line {err.lineno}: " if err.lineno else ""
        raise CodeScanError(f"{path.name} is not valid Python ({where}{err.msg}); fix the file, then import it again") from err
    except ValueError as err:  # null bytes: a binary file with a .py name
        raise CodeScanError(f"{path.name} is not Python source ({err})") from err
    except (RecursionError, MemoryError) as err:
        raise CodeScanError(f"{path.name} is nested too deeply to be read as a model's source") from err
    top = [node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))]
    module_classes = _module_classes([n for n in top if isinstance(n, ast.ClassDef)])
    classes = [n for n in top if isinstance(n, ast.ClassDef) and n.name in module_classes and _buildable(n, module_classes)]
    functions = [n for n in top if isinstance(n, ast.FunctionDef) and _builds_something(n)]
    defined, star = _top_level_names(tree)
    return CodeScan(
        path=path,
        classes=tuple(n.name for n in classes),
        functions=tuple(n.name for n in functions),
        suggested=_suggestion(classes, functions, top),
        has_example_inputs="example_inputs" in defined,
        defined=frozenset(defined),
        star_import=star,
    )


def _base_name(base: ast.expr) -> str:
    """`nn.Module` -> `Module`, `Generic[T]` -> `Generic`."""
    if isinstance(base, ast.Subscript):
        base = base.value
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else ""


def _module_classes(classes: list[ast.ClassDef]) -> dict[str, ast.ClassDef]:
    """The classes that are modules: a torch.nn base by name, or a base of this file that is a module class."""
    own = {c.name: c for c in classes}
    found: dict[str, ast.ClassDef] = {}
    for node in classes:  # a base is defined before its subclasses, so one pass in file order settles it
        names = [_base_name(b) for b in node.bases]
        if any(n in found or (n not in own and (n in MODULE_BASES or n.endswith(MODULE_SUFFIXES))) for n in names):
            found[node.name] = node
    return found


def _required(function: ast.FunctionDef, skip_self: bool) -> list[str]:
    """The arguments a call must give (no default, not *args or **kwargs)."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args][1 if skip_self else 0 :]
    without_default = positional[: len(positional) - len(arguments.defaults)] if arguments.defaults else positional
    keyword = [a for a, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if default is None]
    return [a.arg for a in [*without_default, *keyword]]


def _buildable(node: ast.ClassDef, module_classes: dict[str, ast.ClassDef]) -> bool:
    """True unless the class's `__init__` (its own, or the nearest of this file's bases) needs arguments."""
    seen = set()
    while node.name not in seen:
        seen.add(node.name)
        init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
        if init is not None:
            return not _required(init, skip_self=True)
        parent = next((module_classes[n] for n in map(_base_name, node.bases) if n in module_classes), None)
        if parent is None:
            return True
        node = parent
    return True


def _returns(function: ast.FunctionDef) -> list[ast.expr]:
    """The values its own `return` statements give (not those of functions nested in it)."""
    found, stack = [], list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            found.append(node.value)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _may_be_module(value: ast.expr) -> bool:
    """False for values that are plainly no module: literals, arithmetic, `torch.randn(...)`."""
    if isinstance(value, NOT_MODULES):
        return False
    if isinstance(value, ast.IfExp):
        return _may_be_module(value.body) or _may_be_module(value.orelse)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and isinstance(value.func.value, ast.Name):
        return not (value.func.value.id in TENSOR_MAKERS and value.func.attr[:1].islower())
    return True


def _builds_something(function: ast.FunctionDef) -> bool:
    """A public top-level function that takes no arguments and returns what may be a module."""
    if function.name.startswith("_") or function.name == "example_inputs" or _required(function, skip_self=False):
        return False
    if function.returns is not None:
        annotation = ast.unparse(function.returns)
        return any(word in annotation for word in (*MODULE_BASES, *MODULE_SUFFIXES))
    return any(_may_be_module(value) for value in _returns(function))


def _suggestion(classes: list[ast.ClassDef], functions: list[ast.FunctionDef], top: list[ast.stmt]) -> str:
    """The offered name nothing else in the file uses (the whole model, not a part), the last such class first."""
    offered = [*classes, *functions]
    used: set[str] = set()
    for node in top:
        used |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id != getattr(node, "name", None)}
    roots = [n for n in offered if n.name not in used] or offered
    classes_first = [n for n in roots if isinstance(n, ast.ClassDef)] or roots
    return classes_first[-1].name if classes_first else ""


def _top_level_names(tree: ast.Module) -> tuple[set[str], bool]:
    """The names the file binds at top level, and whether it has a star import."""
    names: set[str] = set()
    star = False
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                star |= alias.name == "*"
                names.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try, ast.With)):  # `try: from a import b except ImportError: ...`
            inner, inner_star = _top_level_names(ast.Module(body=_branches(node), type_ignores=[]))
            names |= inner
            star |= inner_star
    return names, star


def _branches(node: ast.If | ast.Try | ast.With) -> list[ast.stmt]:
    """The statements an `if`, `try` or `with` at top level runs, any branch."""
    if isinstance(node, ast.With):
        return node.body
    if isinstance(node, ast.If):
        return [*node.body, *node.orelse]
    return [*node.body, *(s for handler in node.handlers for s in handler.body), *node.orelse, *node.finalbody]
