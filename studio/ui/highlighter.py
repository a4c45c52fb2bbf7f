"""Python syntax colouring for the code preview, in colours readable on light and dark backgrounds."""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable

from PySide6.QtGui import (
    QColor,
    QFont,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)

from studio.ui.theme import current_theme

KEYWORDS = frozenset(keyword.kwlist)
BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_")) - KEYWORDS
SELF_NAMES = frozenset({"self", "cls"})
DEFINERS = frozenset({"def", "class"})

# kind: (light colour, dark colour, bold, italic)
STYLES: dict[str, tuple[str, str, bool, bool]] = {
    "keyword": ("#0033b3", "#c678dd", True, False),
    "builtin": ("#0b7285", "#56b6c2", False, False),
    "self": ("#94558d", "#e06c75", False, True),
    "definition": ("#00627a", "#61afef", True, False),
    "decorator": ("#9e6a03", "#e5c07b", False, False),
    "string": ("#067d17", "#98c379", False, False),
    "number": ("#1750eb", "#d19a66", False, False),
    "comment": ("#6a737d", "#7f848e", False, True),
}

TOKEN = re.compile(
    r"""
    (?P<comment>\#.*)
    | (?P<triple>(?i:[rbuf]{0,2})(?:\"\"\"|'''))
    | (?P<string>(?i:[rbuf]{0,2})(?:"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?))
    | (?P<decorator>@[^\W\d][\w.]*)
    | (?P<number>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
        |(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)
    | (?P<name>[^\W\d]\w*)
    """,
    re.VERBOSE,
)
TRIPLE_END = {
    '"""': re.compile(r'(?:\\.|[^\\])*?"""'),
    "'''": re.compile(r"(?:\\.|[^\\])*?'''"),
}
IN_TRIPLE = {'"""': 1, "'''": 2}  # block states: the block ends inside such a string


def text_formats(dark: bool) -> dict[str, QTextCharFormat]:
    """The character format of each kind of token, for a dark or a light background."""
    formats = {}
    for kind, (light_color, dark_color, bold, italic) in STYLES.items():
        fmt = QTextCharFormat()
        fmt.setForeground(QColor(dark_color if dark else light_color))
        if bold:
            fmt.setFontWeight(QFont.Weight.DemiBold)
        fmt.setFontItalic(italic)
        formats[kind] = fmt
    return formats


class PythonHighlighter(QSyntaxHighlighter):
    """Colours keywords, builtins, strings (triple-quoted ones across lines), numbers and comments."""

    def __init__(self, document: QTextDocument, dark: bool | None = None) -> None:
        super().__init__(document)
        self._formats = text_formats(current_theme().dark if dark is None else dark)

    def set_dark(self, dark: bool) -> None:
        """Switch to the colours for a dark (or light) background and colour the text again."""
        self._formats = text_formats(dark)
        self.rehighlight()

    def format_of(self, kind: str) -> QTextCharFormat:
        """The format used for one kind of token ('keyword', 'string', ...; see STYLES)."""
        return self._formats[kind]

    def highlightBlock(self, text: str) -> None:
        to_qt = _utf16_offsets(text)
        pos = 0
        self.setCurrentBlockState(0)
        for delimiter, state in IN_TRIPLE.items():
            if self.previousBlockState() == state:
                pos = self._string_tail(text, 0, delimiter, to_qt)
                if pos < 0:
                    return
        after_definer = False
        while (match := TOKEN.search(text, pos)) is not None:
            kind = match.lastgroup or ""
            start, pos = match.span()
            if kind == "triple":
                pos = self._string_tail(
                    text, start, match.group()[-3:], to_qt, opened_at=pos
                )
                if pos < 0:
                    return
                continue
            if kind == "name":
                kind = self._name_kind(text, start, match.group(), after_definer)
                after_definer = match.group() in DEFINERS
            elif kind == "decorator" and text[:start].strip():
                kind = ""  # the matrix product operator, not a decorator
            if kind:
                self._paint(start, pos, kind, to_qt)

    def _name_kind(self, text: str, start: int, name: str, after_definer: bool) -> str:
        if after_definer:
            return "definition"
        if name in KEYWORDS:
            return "keyword"
        if name in SELF_NAMES:
            return "self"
        if name in BUILTINS and not text[:start].rstrip().endswith("."):
            return "builtin"
        return ""

    def _string_tail(
        self,
        text: str,
        start: int,
        delimiter: str,
        to_qt: Callable[[int], int],
        opened_at: int | None = None,
    ) -> int:
        """Colour a triple-quoted string from `start`; return where it ends, or -1 past this block."""
        end = TRIPLE_END[delimiter].match(
            text, start if opened_at is None else opened_at
        )
        if end is None:
            self._paint(start, len(text), "string", to_qt)
            self.setCurrentBlockState(IN_TRIPLE[delimiter])
            return -1
        self._paint(start, end.end(), "string", to_qt)
        return end.end()

    def _paint(
        self, start: int, end: int, kind: str, to_qt: Callable[[int], int]
    ) -> None:
        self.setFormat(to_qt(start), to_qt(end) - to_qt(start), self._formats[kind])


def _utf16_offsets(text: str) -> Callable[[int], int]:
    """Map Python string indices to Qt's UTF-16 ones (they differ after characters beyond the BMP)."""
    if text.isascii() or all(ord(c) <= 0xFFFF for c in text):
        return lambda i: i
    offsets = [0]
    for c in text:
        offsets.append(offsets[-1] + (2 if ord(c) > 0xFFFF else 1))
    return offsets.__getitem__
