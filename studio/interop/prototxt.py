"""A small reader of the protobuf text format (Caffe's .prototxt), with no schema and no compiled protobuf.

Without a schema every field may repeat, so a `Message` keeps its fields in file order and the
caller asks for what it expects: `integer("num_output")`, `children("layer")`, ... A wrong kind
of value is a `PrototxtError` naming the field, its line and its column, like a syntax error.
Bare words (enum values such as MAX, and true/false) stay `Word`s, quoted strings plain `str`s.
The reader is a loop with an explicit stack: deep nesting and huge files end in a clear error.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from typing import Union

MAX_CHARS = 16 * 2**20
MAX_DEPTH = 100
INT_MIN, INT_MAX = -(2**63), 2**64 - 1

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f\v]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*')
  | (?P<number>(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fF]?)(?![A-Za-z0-9_.]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<symbol>[{}<>\[\]:,;\-])
    """,
    re.VERBOSE,
)
_HEX = re.compile(r"[0-9A-Fa-f]+")
_CLOSING = {"{": "}", "<": ">"}
_FLOAT_WORDS = {"inf": math.inf, "infinity": math.inf, "nan": math.nan}
_TRUE, _FALSE = ("true", "True", "t"), ("false", "False", "f")
_ESCAPES = {
    "a": 7,
    "b": 8,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
    "'": 39,
    '"': 34,
    "?": 63,
}


class PrototxtError(ValueError):
    """A text that is not valid protobuf text format, or a field of the wrong kind; names line and column."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return (
            f"line {self.line}:{self.column}: {self.message}"
            if self.line
            else self.message
        )


class Word(str):
    """A bare identifier value: an enum name (MAX, TEST) or a boolean (true, false)."""


Value = Union[int, float, str, Word, "Message"]


@dataclass(frozen=True)
class Field:
    """One `name: value` or `name { ... }` of a message, with where it starts in the text."""

    name: str
    value: Value
    line: int
    column: int


@dataclass
class Message:
    """A message's fields in file order; typed look-ups raise PrototxtError at the offending field."""

    line: int = 0
    column: int = 0
    fields: list[Field] = field(default_factory=list)

    def names(self) -> list[str]:
        """The field names, each once, in order of first appearance."""
        return list(dict.fromkeys(f.name for f in self.fields))

    def has(self, name: str) -> bool:
        """Whether the field is given at all."""
        return any(f.name == name for f in self.fields)

    def all(self, name: str) -> list[Field]:
        """Every occurrence of the field, in order."""
        return [f for f in self.fields if f.name == name]

    def last(self, name: str) -> Field | None:
        """The last occurrence (a singular field's value: the last one wins, as in protobuf)."""
        found = self.all(name)
        return found[-1] if found else None

    # ----- singular fields: the last occurrence, or the default -----
    def integer(self, name: str, default: int | None = None) -> int | None:
        """An integer field."""
        found = self.last(name)
        return default if found is None else _integer(found)

    def number(self, name: str, default: float | None = None) -> float | None:
        """A real-valued field (integers, inf and nan accepted, as protobuf does)."""
        found = self.last(name)
        return default if found is None else _number(found)

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        """A boolean field: true/false (also True, t, 1 and their opposites)."""
        found = self.last(name)
        return default if found is None else _flag(found)

    def text(self, name: str, default: str | None = None) -> str | None:
        """A quoted string field."""
        found = self.last(name)
        return default if found is None else _text(found)

    def enum(self, name: str, default: str | None = None) -> str | None:
        """An enum field given by name (MAX); a number stays its decimal text."""
        found = self.last(name)
        return default if found is None else _enum(found)

    def child(self, name: str) -> Message | None:
        """A nested message field (the last one), or None."""
        found = self.last(name)
        return None if found is None else _message(found)

    # ----- repeated fields: every occurrence -----
    def integers(self, name: str) -> list[int]:
        """Every value of a repeated integer field."""
        return [_integer(f) for f in self.all(name)]

    def numbers(self, name: str) -> list[float]:
        """Every value of a repeated real-valued field."""
        return [_number(f) for f in self.all(name)]

    def texts(self, name: str) -> list[str]:
        """Every value of a repeated string field."""
        return [_text(f) for f in self.all(name)]

    def children(self, name: str) -> list[Message]:
        """Every value of a repeated message field."""
        return [_message(f) for f in self.all(name)]


def _wrong(found: Field, wanted: str) -> PrototxtError:
    value = found.value
    shown = "a message" if isinstance(value, Message) else _show(value)
    return PrototxtError(
        f"'{found.name}' must be {wanted}, not {shown}", found.line, found.column
    )


def _show(value: Value) -> str:
    text = str(value) if isinstance(value, (Word, int, float)) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _integer(found: Field) -> int:
    if isinstance(found.value, int) and not isinstance(found.value, bool):
        return found.value
    raise _wrong(found, "an integer")


def _number(found: Field) -> float:
    value = found.value
    if isinstance(value, Word) and value.lower() in _FLOAT_WORDS:
        return _FLOAT_WORDS[value.lower()]
    if isinstance(value, (int, float)) and not isinstance(value, (bool, str)):
        return float(value)
    raise _wrong(found, "a number")


def _flag(found: Field) -> bool:
    value = found.value
    if isinstance(value, Word) and value in _TRUE + _FALSE:
        return value in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _wrong(found, "true or false")


def _text(found: Field) -> str:
    if isinstance(found.value, str) and not isinstance(found.value, Word):
        return found.value
    raise _wrong(found, "a quoted string")


def _enum(found: Field) -> str:
    value = found.value
    if isinstance(value, Word):
        return str(value)
    if isinstance(value, int):
        return str(value)
    raise _wrong(found, "a name such as MAX")


def _message(found: Field) -> Message:
    if isinstance(found.value, Message):
        return found.value
    raise _wrong(found, "a message { ... }")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str  # empty for a string: its characters stay in the reader's text (`_Reader.body`), never copied whole
    start: int
    end: int


class _Reader:
    """Tokens of one text, read one at a time, with offsets turned into line:column for errors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.pos = 0
        self.next: _Token | None = None

    def where(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def error(self, message: str, offset: int) -> PrototxtError:
        return PrototxtError(message, *self.where(offset))

    def peek(self) -> _Token:
        if self.next is None:
            self.next = self._scan()
        return self.next

    def take(self) -> _Token:
        token = self.peek()
        self.next = None
        return token

    def accept(self, symbol: str) -> bool:
        token = self.peek()
        if token.kind == "symbol" and token.text == symbol:
            self.next = None
            return True
        return False

    def _scan(self) -> _Token:
        text = self.text
        while self.pos < len(text):
            match = _TOKEN.match(text, self.pos)
            if match is None:
                raise self.error(_unexpected(text, self.pos), self.pos)
            start, self.pos = self.pos, match.end()
            kind = match.lastgroup or ""
            if kind == "string":
                return _Token(kind, "", start, self.pos)
            if kind not in ("space", "comment"):
                return _Token(kind, match.group(), start, self.pos)
        return _Token("end", "", len(text), len(text))

    def body(self, token: _Token) -> str:
        """A string token's characters between its quotes."""
        return self.text[token.start + 1 : token.end - 1]


def _unexpected(text: str, pos: int) -> str:
    char = text[pos]
    if char in "\"'":
        return "this string is not closed on its line (a string cannot span lines)"
    if char.isdigit() or char == ".":
        word = re.match(r"[0-9A-Za-z_.+\-]+", text[pos:])
        shown = word.group() if word else char
        return f"{shown[:40]!r} is not a number"
    if char == "/":
        return "'/' is not allowed here (comments start with '#')"
    return f"unexpected character {char!r}"


def parse(source: str | bytes) -> Message:
    """Parse protobuf text format into a Message; PrototxtError with line:column if it is not valid."""
    if isinstance(source, bytes):
        if len(source) > MAX_CHARS:
            raise PrototxtError(_too_big(len(source)))
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as err:
            line = source.count(b"\n", 0, err.start) + 1
            column = err.start - (source.rfind(b"\n", 0, err.start) + 1) + 1
            raise PrototxtError(
                "the text is not UTF-8 (a byte that starts no character)", line, column
            ) from None
    if len(source) > MAX_CHARS:
        raise PrototxtError(_too_big(len(source)))
    source = source.removeprefix("\ufeff")
    reader = _Reader(source)
    root = Message(1, 1)
    stack: list[tuple[Message, str, int]] = [(root, "", 0)]
    while True:
        message, closing, opened_at = stack[-1]
        token = reader.peek()
        if token.kind == "end":
            if closing:
                raise reader.error(
                    f"this message is never closed (expected {closing!r} before the end)",
                    opened_at,
                )
            return root
        if token.kind == "symbol" and token.text == closing:
            reader.take()
            stack.pop()
            _separator(reader)
            continue
        name = _field_name(reader, closing)
        line, column = reader.where(name.start)
        after = reader.peek()
        colon = reader.accept(":")
        opener = reader.peek()
        if opener.kind == "symbol" and opener.text in _CLOSING:
            if len(stack) > MAX_DEPTH:
                raise reader.error(
                    f"messages are nested more than {MAX_DEPTH} deep", opener.start
                )
            reader.take()
            child = Message(line, column)
            message.fields.append(Field(name.text, child, line, column))
            stack.append((child, _CLOSING[opener.text], opener.start))
            continue
        if not colon:
            raise reader.error(
                f"expected ':' or '{{' after field name {name.text!r}", after.start
            )
        if reader.accept("["):
            _list(reader, message, name.text)
        else:
            message.fields.append(Field(name.text, _scalar(reader), line, column))
        _separator(reader)


def _too_big(size: int) -> str:
    return f"the text is {size / 2**20:.1f} MiB, more than the {MAX_CHARS // 2**20} MiB a net definition may be"


def _separator(reader: _Reader) -> None:
    if not reader.accept(","):
        reader.accept(";")


def _field_name(reader: _Reader, closing: str) -> _Token:
    token = reader.take()
    if token.kind == "word":
        return token
    if token.kind == "symbol" and token.text == "[":
        raise reader.error(
            "extension and Any fields ([...]) are not supported", token.start
        )
    if token.kind == "symbol" and token.text in "}>":
        where = (
            f"this message closes with {closing!r}"
            if closing
            else "no message is open here"
        )
        raise reader.error(f"unexpected {token.text!r}: {where}", token.start)
    shown = reader.text[token.start : min(token.end, token.start + 40)] if token.kind != "end" else "the end of the text"
    raise reader.error(f"expected a field name, found {shown!r}", token.start)


def _list(reader: _Reader, message: Message, name: str) -> None:
    """Read the items of `name: [v1, v2, ...]`, each with its own place (lists of messages are refused)."""
    if reader.accept("]"):
        return
    while True:
        item = reader.peek()
        if item.kind == "symbol" and item.text in _CLOSING:
            raise reader.error(
                "a list of messages ([{...}, ...]) is not supported: repeat the field instead",
                item.start,
            )
        line, column = reader.where(item.start)
        message.fields.append(Field(name, _scalar(reader), line, column))
        if reader.accept("]"):
            return
        if not reader.accept(","):
            token = reader.peek()
            raise reader.error(
                f"expected ',' or ']' in the list of {name!r}", token.start
            )


def _scalar(reader: _Reader) -> Value:
    token = reader.take()
    negative = False
    if token.kind == "symbol" and token.text == "-":
        negative, token = True, reader.take()
        if token.kind == "word" and token.text.lower() in _FLOAT_WORDS:
            return -_FLOAT_WORDS[token.text.lower()]
        if token.kind != "number":
            raise reader.error("expected a number after '-'", token.start)
    if token.kind == "number":
        return _parse_number(reader, token, negative)
    if token.kind == "word":
        return Word(token.text)
    if token.kind == "string":
        parts = [_unescape(reader, token)]
        while reader.peek().kind == "string":
            parts.append(_unescape(reader, reader.take()))
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)
        return b"".join(p if isinstance(p, bytes) else p.encode("utf-8", errors="replace") for p in parts).decode("utf-8", errors="replace")
    shown = "the end of the text" if token.kind == "end" else repr(token.text)
    raise reader.error(f"expected a value, found {shown}", token.start)


def _parse_number(reader: _Reader, token: _Token, negative: bool) -> int | float:
    text = token.text
    sign = -1 if negative else 1
    if text[:2] in ("0x", "0X"):
        value = int(text, 0) if len(text) <= 18 else None
    elif re.fullmatch(r"[0-9]+", text):
        if len(text) > 20:
            value = None
        elif len(text) > 1 and text[0] == "0":
            if not re.fullmatch(r"[0-7]+", text):
                raise reader.error(
                    f"{text!r} is not a number (a leading 0 means octal, digits 0-7)",
                    token.start,
                )
            value = int(text, 8)
        else:
            value = int(text)
    else:
        return sign * float(text.rstrip("fF"))
    if value is None or not INT_MIN <= sign * value <= INT_MAX:
        raise reader.error(
            f"integer {'-' if negative else ''}{text[:24]} is out of the 64-bit range",
            token.start,
        )
    return sign * value


def _unescape(reader: _Reader, token: _Token) -> str | bytes:
    """A string token's value: its text where it holds no escape (no copy beyond the slice), else its bytes.

    The escapes are found with `str.find`, and the runs between them are encoded whole, so a
    long string costs a few times its size, never a Python object per character.
    """
    body = reader.body(token)
    if "\\" not in body:
        return body if body.isascii() else body.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    out, i = bytearray(), 0
    while i < len(body):
        slash = body.find("\\", i)
        if slash < 0:
            out += body[i:].encode("utf-8", errors="replace")
            break
        out += body[i:slash].encode("utf-8", errors="replace")
        i = slash
        start = token.start + 1 + i
        code = body[i + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 : i + 4]).group()  # type: ignore[union-attr]
            if int(digits, 8) > 255:
                raise reader.error(
                    f"octal escape \\{digits} is more than one byte", start
                )
            out.append(int(digits, 8))
            i += 1 + len(digits)
        elif code in "xX":
            digits = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 : i + 4])
            if digits is None:
                raise reader.error("\\x must be followed by hexadecimal digits", start)
            out.append(int(digits.group(), 16))
            i += 2 + len(digits.group())
        elif code in "uU":
            size = 4 if code == "u" else 8
            digits = body[i + 2 : i + 2 + size]
            if (
                len(digits) != size
                or not _HEX.fullmatch(digits)
                or int(digits, 16) > 0x10FFFF
            ):
                raise reader.error(
                    f"\\{code} must be followed by {size} hexadecimal digits of a Unicode character",
                    start,
                )
            out += chr(int(digits, 16)).encode("utf-8", errors="replace")
            i += 2 + size
        else:
            raise reader.error(f"unknown escape \\{code} in a string", start)
    return bytes(out)
