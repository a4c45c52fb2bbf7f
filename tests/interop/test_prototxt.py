"""The protobuf text-format reader: messages, repeated fields, strings, numbers, errors with line:column."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.codegen.caffe import prototxt_string
from studio.interop.prototxt import (
    MAX_CHARS,
    MAX_DEPTH,
    Message,
    PrototxtError,
    Word,
    parse,
)
from tests.interop.caffe_nets import MODELS


def error_of(text: str | bytes) -> PrototxtError:
    with pytest.raises(PrototxtError) as caught:
        parse(text)
    return caught.value


# ----- structure -----
def test_nested_messages_and_repeated_fields_keep_file_order() -> None:
    net = parse(
        """
        name: "net"
        layer { name: "a" top: "x" top: "y" param { lr_mult: 1 } param { lr_mult: 2 } }
        layer { name: "b" bottom: "x" inner { deeper { value: 3 } } }
        """
    )
    layers = net.children("layer")
    assert [layer.text("name") for layer in layers] == ["a", "b"]
    assert layers[0].texts("top") == ["x", "y"]
    assert [p.number("lr_mult") for p in layers[0].children("param")] == [1.0, 2.0]
    deeper = layers[1].child("inner").child("deeper")  # type: ignore[union-attr]
    assert deeper is not None and deeper.integer("value") == 3
    assert net.names() == ["name", "layer"]


def test_a_singular_field_given_twice_takes_the_last_value_as_protobuf_does() -> None:
    msg = parse("kernel_size: 3 kernel_size: 5")
    assert msg.integer("kernel_size") == 5
    assert msg.integers("kernel_size") == [3, 5]


def test_defaults_apply_to_missing_fields() -> None:
    msg = parse("")
    assert msg.integer("group", 1) == 1
    assert msg.flag("bias_term", True) is True
    assert msg.child("convolution_param") is None
    assert msg.children("layer") == [] and not msg.has("layer")


def test_separators_colons_angle_brackets_and_lists() -> None:
    msg = parse('a: 1, b: 2; c: { d: 3 } e < f: "x" > g: [1, 2.5, -3] h: [] i {}')
    assert msg.integer("a") == 1 and msg.integer("b") == 2
    assert msg.child("c").integer("d") == 3  # type: ignore[union-attr]
    assert msg.child("e").text("f") == "x"  # type: ignore[union-attr]
    assert msg.numbers("g") == [1.0, 2.5, -3.0]
    assert not msg.has("h")
    assert msg.child("i") == Message(1, 60)


def test_list_items_keep_their_own_line() -> None:
    msg = parse("mean_value: [\n 103.94,\n 116.78 ]")
    assert [f.line for f in msg.all("mean_value")] == [2, 3]


def test_comments_run_to_the_end_of_the_line_but_not_inside_strings() -> None:
    msg = parse(
        '# header\nname: "a # not a comment" # a comment\nlayer { # opening\n  k: 1 # value\n}\n'
    )
    assert msg.text("name") == "a # not a comment"
    assert msg.child("layer").integer("k") == 1  # type: ignore[union-attr]


# ----- values -----
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r'"tab\there"', "tab\there"),
        (r'"quote \" and \' and \\"', "quote \" and ' and \\"),
        (r"'single \"quoted\"'", 'single "quoted"'),
        (r'"\101\x42\u00e9\U0001F600"', "ABé😀"),
        (r'"\303\251"', "é"),
        ('"a" "b" \'c\'', "abc"),
        ('"raw é"', "raw é"),
        (r'"\a\b\f\n\r\v\?"', "\a\b\f\n\r\v?"),
    ],
)
def test_strings_with_escapes_and_concatenation(source: str, expected: str) -> None:
    assert parse(f"s: {source}").text("s") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("7", 7),
        ("-7", -7),
        ("0x1F", 31),
        ("017", 15),
        ("0", 0),
        ("18446744073709551615", 2**64 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_integers(source: str, expected: int) -> None:
    assert parse(f"n: {source}").integer("n") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1e-5", 1e-5),
        ("1.5E+3", 1500.0),
        (".5", 0.5),
        ("2.", 2.0),
        ("1.5f", 1.5),
        ("3", 3.0),
        ("-0.25", -0.25),
    ],
)
def test_real_numbers_with_exponents(source: str, expected: float) -> None:
    assert parse(f"x: {source}").number("x") == expected


def test_infinities_and_nan() -> None:
    msg = parse("a: inf b: -inf c: nan d: -Infinity")
    assert (
        msg.number("a") == math.inf
        and msg.number("b") == -math.inf
        and msg.number("d") == -math.inf
    )
    assert math.isnan(msg.number("c") or 0.0)


def test_bare_words_are_enums_and_booleans() -> None:
    msg = parse("pool: MAX on: true off: False t: t one: 1")
    assert msg.enum("pool") == "MAX" and isinstance(msg.last("pool").value, Word)  # type: ignore[union-attr]
    assert [msg.flag(k) for k in ("on", "off", "t", "one")] == [True, False, True, True]


@pytest.mark.parametrize(
    ("source", "getter", "words"),
    [
        ("n: 1.5", "integer", "'n' must be an integer, not 1.5"),
        ('n: "3"', "integer", "'n' must be an integer, not '3'"),
        ("n: MAX", "text", "'n' must be a quoted string, not MAX"),
        ("n: 2", "flag", "'n' must be true or false, not 2"),
        ("n { }", "number", "'n' must be a number, not a message"),
        ('n: "x"', "child", "'n' must be a message { ... }"),
        ("n: 1.5", "enum", "'n' must be a name such as MAX"),
    ],
)
def test_a_value_of_the_wrong_kind_names_the_field_and_its_place(
    source: str, getter: str, words: str
) -> None:
    msg = parse("\n  " + source)
    with pytest.raises(PrototxtError) as caught:
        getattr(msg, getter)("n")
    assert caught.value.message.startswith(words)
    assert (caught.value.line, caught.value.column) == (2, 3)
    assert str(caught.value).startswith("line 2:3: ")


# ----- errors -----
@pytest.mark.parametrize(
    ("source", "where", "words"),
    [
        ("layer {\n  name: 1\n", (1, 7), "never closed"),
        ('name: "open\n"', (1, 7), "not closed on its line"),
        ("a: 1.2.3", (1, 4), "'1.2.3' is not a number"),
        ("a: 12abc", (1, 4), "is not a number"),
        ("a 1", (1, 3), "expected ':' or '{'"),
        ("a: 1 }", (1, 6), "no message is open"),
        ("a { b: 1 >", (1, 10), "closes with '}'"),
        (r'a: "\q"', (1, 5), "unknown escape \\q"),
        (r'a: "\u12"', (1, 5), "4 hexadecimal digits"),
        (r'a: "\777"', (1, 5), "more than one byte"),
        ("[ext.field]: 1", (1, 1), "extension"),
        ("a: 123456789012345678901234", (1, 4), "out of the 64-bit range"),
        ("a: 18446744073709551616", (1, 4), "out of the 64-bit range"),
        ("a: 09", (1, 4), "octal"),
        ("a:", (1, 3), "expected a value"),
        ("a: -b", (1, 5), "expected a number after '-'"),
        ("a: [1 2]", (1, 7), "expected ',' or ']'"),
        ("a: [{ b: 1 }]", (1, 5), "list of messages"),
        ("a: 1\nb: 2 // c", (2, 6), "comments start with '#'"),
        ("a: 1\n\n   @", (3, 4), "unexpected character '@'"),
        ("a: 1 3: 2", (1, 6), "expected a field name"),
    ],
)
def test_syntax_errors_say_what_and_where(
    source: str, where: tuple[int, int], words: str
) -> None:
    err = error_of(source)
    assert (err.line, err.column) == where, str(err)
    assert words in err.message


def test_bytes_must_be_utf8_and_the_error_points_at_the_bad_byte() -> None:
    err = error_of(b'a: 1\nb: "\xff"')
    assert (err.line, err.column) == (2, 5)
    assert parse('\ufeffa: "é"'.encode()).text("a") == "é"


def test_nesting_is_bounded() -> None:
    assert parse("a {" * MAX_DEPTH + "}" * MAX_DEPTH).has("a")
    err = error_of("a {" * (MAX_DEPTH + 1) + "}" * (MAX_DEPTH + 1))
    assert "nested more than" in err.message and err.line == 1


def test_deep_nesting_far_beyond_the_limit_is_a_clear_error_not_a_crash() -> None:
    err = error_of("a {" * 100_000)
    assert "nested more than" in err.message


def test_huge_texts_are_refused_before_reading() -> None:
    err = error_of("#" * (MAX_CHARS + 1))
    assert "MiB" in str(err)
    assert "MiB" in str(error_of(b"#" * (MAX_CHARS + 1)))


def test_a_long_run_of_digits_is_an_error_not_a_value_error() -> None:
    assert "64-bit" in error_of("a: " + "9" * 10_000).message
    assert (
        parse("a: 1" + "0" * 400 + ".5").number("a") == math.inf
    )  # out-of-range reals overflow, as in protobuf


# ----- properties -----
TOKENS = st.sampled_from(
    [
        "a",
        "layer",
        ":",
        "{",
        "}",
        "<",
        ">",
        "[",
        "]",
        ",",
        ";",
        "-",
        '"s"',
        "'t'",
        "1",
        "1.5e3",
        "0x1",
        "#c\n",
        "\n",
        " ",
        '"\\',
        "inf",
        ".",
        "@",
    ]
)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_any_text_either_parses_or_raises_the_reader_error(text: str) -> None:
    try:
        parse(text)
    except PrototxtError as err:
        assert err.line >= 1 and err.column >= 1


@settings(max_examples=200)
@given(st.lists(TOKENS, max_size=60))
def test_token_soup_either_parses_or_raises_the_reader_error(parts: list[str]) -> None:
    try:
        parse(" ".join(parts))
    except PrototxtError as err:
        assert err.line >= 1


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_any_bytes_either_parse_or_raise_the_reader_error(data: bytes) -> None:
    try:
        parse(data)
    except PrototxtError:
        pass


NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
SCALARS = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=12),
    st.sampled_from(["MAX", "true", "TEST"]),
)
TREES = st.recursive(
    st.lists(st.tuples(NAMES, SCALARS), max_size=4),
    lambda children: st.lists(
        st.tuples(NAMES, st.one_of(SCALARS, children)), max_size=4
    ),
    max_leaves=20,
)


def write(fields: list) -> str:
    lines = []
    for name, value in fields:
        if isinstance(value, list):
            lines.append(f"{name} {{\n{write(value)}\n}}")
        elif isinstance(value, str) and value in ("MAX", "true", "TEST"):
            lines.append(f"{name}: {value}")
        elif isinstance(value, str):
            lines.append(f"{name}: {prototxt_string(value)}")
        else:
            lines.append(f"{name}: {value!r}")
    return "\n".join(lines)


def read(msg: Message) -> list:
    out = []
    for f in msg.fields:
        value = read(f.value) if isinstance(f.value, Message) else f.value
        out.append((f.name, str(value) if isinstance(value, Word) else value))
    return out


@settings(max_examples=150)
@given(TREES)
def test_what_the_caffe_exporter_writes_reads_back_the_same(tree: list) -> None:
    assert read(parse(write(tree))) == _normalized(tree)


def _normalized(fields: list) -> list:
    out = []
    for name, value in fields:
        if isinstance(value, list):
            out.append((name, _normalized(value)))
        elif isinstance(value, str):
            out.append((name, value.encode("utf-8", "replace").decode("utf-8")))
        else:
            out.append((name, value))
    return out


# ----- the real files -----
@pytest.mark.parametrize(
    "path", sorted(MODELS.glob("*.prototxt")), ids=lambda p: p.stem
)
def test_every_real_prototxt_parses(path: Path) -> None:
    net = parse(path.read_bytes())
    layers = net.children("layer")
    assert layers and all(layer.text("type") for layer in layers)


def test_values_of_a_real_file() -> None:
    net = parse((MODELS / "mobilenet_v2_deploy.prototxt").read_text())
    assert net.text("name") == "MOBILENET_V2"
    assert net.texts("input") == ["data"] and net.integers("input_dim") == [
        1,
        3,
        224,
        224,
    ]
    conv = net.children("layer")[0].child("convolution_param")
    assert (
        conv is not None
        and conv.flag("bias_term") is False
        and conv.integer("num_output") == 32
    )
    train = parse((MODELS / "lenet_train_test.prototxt").read_text())
    first = train.children("layer")[0]
    assert first.children("include")[0].enum("phase") == "TRAIN"
    assert first.child("transform_param").number("scale") == pytest.approx(1 / 256)  # type: ignore[union-attr]
