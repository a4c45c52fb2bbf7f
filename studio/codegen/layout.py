"""Generated source laid out as black lays it out: calls, assignments and lists wrapped at 88 columns.

The generators emit black-clean code directly, so no formatter runs at export time. `Nested`
is a call whose arguments are calls (a block's instances inside `nn.Sequential`).
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.graph.catalogue.pytorch_records import Call, Chain, Expr, Picking

LINE = 88
TAB = "    "


@dataclass(frozen=True)
class Nested:
    """`func(arg, ...)` whose arguments may be calls; with `repeat`, the comprehension `func(arg for _ in range(repeat))`.

    `func` is what comes before the bracket (`nn.Sequential`, `*` for an unpacked generator, "" for a list).
    """

    func: str
    args: tuple[str | Nested, ...]
    repeat: str = ""
    brackets: str = "()"

    def text(self) -> str:
        return f"{self.func}{self.brackets[0]}{self.body()}{self.brackets[1]}"

    def body(self) -> str:
        if self.repeat:
            return f"{_text(self.args[0])} for _ in range({self.repeat})"
        return ", ".join(_text(a) for a in self.args)


def _text(item: str | Nested) -> str:
    return item if isinstance(item, str) else item.text()


def fit(indent: str, head: str, items: list[str], tail: str, trailing_comma: bool = True) -> list[str]:
    """Lines for `head item, item tail` wrapped as black wraps a bracketed list."""
    one = f"{indent}{head}{', '.join(items)}{tail}"
    if len(one) <= LINE or not items:
        return [one]
    body = f"{indent}{TAB}{', '.join(items)}"
    if len(body) <= LINE:
        return [f"{indent}{head}", body, f"{indent}{tail}"]
    comma = "," if trailing_comma else ""
    last = len(items) - 1
    return [f"{indent}{head}", *(f"{indent}{TAB}{item}{',' if i < last else comma}" for i, item in enumerate(items)), f"{indent}{tail}"]


def assign(indent: str, target: str, expr: Expr) -> list[str]:
    """Lines for `target = expr`, black-wrapped."""
    if isinstance(expr, Call):
        head = f"{target} = {expr.func}("
        if len(indent + head) <= LINE or len(f"{indent}{target} = {expr.text()}") <= LINE:
            return fit(indent, head, list(expr.args), ")")
        return [f"{indent}{target} = (", *fit(indent + TAB, f"{expr.func}(", list(expr.args), ")"), f"{indent})"]
    if isinstance(expr, Picking):
        return _picking(indent, target, expr)
    one = f"{indent}{target} = {expr.text()}"
    if len(one) <= LINE or not isinstance(expr, Chain):
        return [one]
    body = f"{indent}{TAB}{expr.text()}"
    if len(body) <= LINE:
        return [f"{indent}{target} = (", body, f"{indent})"]
    operands = [expr.operands[0], *(f"{expr.op} {x}" for x in expr.operands[1:])]
    return [f"{indent}{target} = (", *(f"{indent}{TAB}{x}" for x in operands), f"{indent})"]


def _picking(indent: str, target: str, expr: Picking) -> list[str]:
    """Lines for `target = x[:, [i, j, ...]]`, wrapped as black wraps a subscript (a long index list one per line)."""
    picked = "[" + ", ".join(expr.items) + "]"
    lines = fit(indent, f"{target} = {expr.source}[", [*expr.prefix, picked], "]")
    if all(len(line) <= LINE for line in lines):
        return lines
    inner = indent + TAB
    return [
        f"{indent}{target} = {expr.source}[",
        *(f"{inner}{p}," for p in expr.prefix),
        *fit(inner, "[", list(expr.items), "],"),
        f"{indent}]",
    ]


def nested_lines(indent: str, lead: str, item: str | Nested, tail: str = "") -> list[str]:
    """Lines for `lead item tail`, the call split bracket by bracket as black splits it."""
    one = f"{indent}{lead}{_text(item)}{tail}"
    if len(one) <= LINE or isinstance(item, str):
        return [one]
    head, close = f"{indent}{lead}{item.func}{item.brackets[0]}", f"{indent}{item.brackets[1]}{tail}"
    body = f"{indent}{TAB}{item.body()}"
    if len(body) <= LINE:
        return [head, body, close]
    if item.repeat:
        inner = nested_lines(indent + TAB, "", item.args[0])
        return [head, *inner, f"{indent}{TAB}for _ in range({item.repeat})", close]
    if len(item.args) == 1:
        return [head, *nested_lines(indent + TAB, "", item.args[0]), close]
    lines = [head]
    for arg in item.args:
        lines += nested_lines(indent + TAB, "", arg, ",")
    return [*lines, close]


def float_list(values: tuple[float, ...], indent: str = TAB * 3) -> str:
    """A list literal as black writes it as a call's argument: on one line, or one value per line."""
    one = f"[{', '.join(map(repr, values))}]"
    if len(indent) + len(one) + 1 <= LINE:
        return one
    return "[\n" + "".join(f"{indent}{TAB}{v!r},\n" for v in values) + f"{indent}]"
