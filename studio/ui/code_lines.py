"""Where a layer is in the generated code: its attribute in `__init__` and its statements in `forward`.

The PyTorch and Keras drivers write a comment `# <name>: <Type> -> <shape>` above each layer's
statements in the network's forward (or Keras `build_model`), and PyTorch sets its module as
`self.<attribute> = ...` in `__init__`. Inside a block's class or function there are no comments:
a layer's lines there are the statements that assign its identifier.
"""

from __future__ import annotations

import re

from studio.codegen.names import RESERVED, Namespace, comment_text

_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_ATTRIBUTE_USE = re.compile(r"\bself\.(\w+)")


def layer_lines(text: str, name: str, layer_type: str, block: str | None = None) -> list[int]:
    """The 0-based line numbers of layer `name`'s code in `text`; `block` names the block whose code holds it (None: the network)."""
    lines = text.splitlines()
    if block is None:
        return _network_lines(lines, name, layer_type)
    section = block_section(lines, block)
    if section is None:
        return []
    # The emitters load with the code preview, not at the editor's start.
    from studio.codegen.keras import KERAS_NAMES
    from studio.codegen.pytorch import model_reserved

    idents = sorted({Namespace(reserved).identifier(name) for reserved in (model_reserved(), RESERVED | KERAS_NAMES)})
    assigns = re.compile(rf"^\s*(self\.)?({'|'.join(map(re.escape, idents))})(, _)? = ")
    found: list[int] = []
    for start in range(*section):
        if assigns.match(lines[start]):
            found += range(start, _statement_end(lines, start))
    return found


def block_section(lines: list[str], block: str) -> tuple[int, int] | None:
    """The lines of a block's PyTorch class or Keras function, as a range (None when there is none)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", block).lower()
    header = re.compile(rf"^(class {re.escape(block)}\d*\(|def {re.escape(snake)}(_block)?\d*\()")
    for start, line in enumerate(lines):
        if header.match(line):
            end = start + 1
            while end < len(lines) and not (lines[end][:1].strip() and not lines[end].startswith((")", "]"))):
                end += 1
            return start, end
    return None


def _network_lines(lines: list[str], name: str, layer_type: str) -> list[int]:
    comment = re.compile(rf"^\s*# {re.escape(comment_text(name))}: {re.escape(layer_type)}( ->|,|$)")
    at = next((i for i, line in enumerate(lines) if comment.match(line)), None)
    if at is None:
        return []
    indent = _indent(lines[at])
    found = [at]
    start = at + 1
    while start < len(lines) and lines[start].strip() and _indent(lines[start]) == indent and not lines[start].lstrip().startswith("#"):
        if layer_type == "Output" and not lines[start].lstrip().startswith(("return", "model = ")):
            break
        end = _statement_end(lines, start)
        found += range(start, end)
        start = end
        if layer_type == "Output":
            break
    attributes = {m for i in found for m in _ATTRIBUTE_USE.findall(lines[i])}
    return _attribute_lines(lines, at, attributes) + found


def _attribute_lines(lines: list[str], before: int, attributes: set[str]) -> list[int]:
    """The `self.<attribute> = ...` statements of the class whose method holds line `before`."""
    if not attributes:
        return []
    top = next((i for i in range(before, -1, -1) if lines[i].startswith("class ")), None)
    if top is None:
        return []
    assigns = re.compile(rf"^\s+self\.({'|'.join(map(re.escape, sorted(attributes)))}) = ")
    found: list[int] = []
    for start in range(top, before):
        if assigns.match(lines[start]):
            found += range(start, _statement_end(lines, start))
    return found


def _statement_end(lines: list[str], start: int) -> int:
    """The index after the statement that begins at `start`: open brackets and deeper-indented lines continue it."""
    indent, depth, at = _indent(lines[start]), 0, start
    while True:
        code = _STRINGS.sub("", lines[at].split(" # ")[0])
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        at += 1
        if at >= len(lines) or (depth <= 0 and not (lines[at].strip() and _indent(lines[at]) > indent)):
            return at


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
