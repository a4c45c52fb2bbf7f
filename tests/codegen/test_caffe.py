"""The Caffe emitter: the prototxt parses against caffe.proto, wires blobs as the graph, keeps shapes.

No Caffe is installed, so the test carries a small protobuf text-format reader and a reader of
caffe.proto's message fields; it recomputes every blob shape with Caffe's own rules
(convolution rounds down, pooling up unless round_mode says FLOOR) and compares them with
the analysis, for every example Caffe can express and every layer type it supports.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import pytest

from studio.codegen.caffe import generate_caffe, prototxt_string
from studio.codegen.names import CodegenError
from studio.graph import CATALOGUE, Graph, analyse
from studio.graph.catalogue.base import Unsupported
from studio.graph.flatten import flat_project
from studio.graph.project import Project, load_project
from tests.codegen.cases import CAFFE_VARIANTS, EXAMPLES, VARIANTS, single_layer

PROTO = Path(__file__).resolve().parents[1] / "data" / "caffe" / "caffe.proto"  # BVLC's schema, see its README

Message = list[tuple[str, Any]]


# ----- a protobuf text-format reader -----
TOKEN = re.compile(r'\s+|#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>-?[0-9][0-9.eE+\-]*)|(?P<sym>[{}:])')
ESCAPE = re.compile(rb"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)")
SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b'"': b'"', b"'": b"'", b"\\": b"\\"}


def unescape(body: str) -> str:
    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        assert code in SIMPLE, f"bad escape {code!r}"
        return SIMPLE[code]

    assert body.isascii(), "the prototxt should escape every non-ASCII byte"
    return ESCAPE.sub(one, body.encode("ascii")).decode("utf-8")


def tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        assert m, f"cannot read the prototxt at {text[pos:pos + 30]!r}"
        pos = m.end()
        if m.lastgroup:
            out.append((m.lastgroup, m.group(m.lastgroup)))
    return out


def parse(text: str) -> Message:
    toks = tokens(text)
    pos = 0

    def message(end: str | None) -> Message:
        nonlocal pos
        fields: Message = []
        while pos < len(toks) and toks[pos] != ("sym", "}"):
            kind, key = toks[pos]
            assert kind == "word", f"expected a field name, got {key!r}"
            pos += 1
            if toks[pos] == ("sym", ":") and toks[pos + 1] != ("sym", "{"):
                pos += 1
                kind, value = toks[pos]
                pos += 1
                if kind == "str":
                    fields.append((key, unescape(value[1:-1])))
                elif kind == "num":
                    fields.append((key, float(value) if any(c in value for c in ".eE") else int(value)))
                else:
                    fields.append((key, {"true": True, "false": False}.get(value, value)))
            else:
                pos += toks[pos] == ("sym", ":")  # "shape: { ... }" is allowed too
                assert toks[pos] == ("sym", "{"), f"expected ':' or '{{' after {key}"
                pos += 1
                fields.append((key, message("}")))
                assert toks[pos] == ("sym", "}")
                pos += 1
        if end is None:
            assert pos == len(toks), "unbalanced braces"
        return fields

    return message(None)


# ----- caffe.proto's messages and enums -----
def read_schema() -> tuple[dict[str, dict[str, tuple[str, str]]], dict[str, set[str]]]:
    """{message: {field: (label, type)}} and {enum: {values}}, nested names flattened."""
    text = re.sub(r"//[^\n]*", "", PROTO.read_text())
    messages: dict[str, dict[str, tuple[str, str]]] = {}
    enums: dict[str, set[str]] = {}
    stack: list[tuple[str, str]] = []
    for m in re.finditer(r"(message|enum)\s+(\w+)\s*\{|\}|(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=|(\w+)\s*=\s*-?\d+\s*;", text):
        if m.group(1):
            stack.append((m.group(1), m.group(2)))
            (messages if m.group(1) == "message" else enums)[m.group(2)] = {} if m.group(1) == "message" else set()  # type: ignore[index]
        elif m.group(0) == "}":
            stack.pop()
        elif m.group(3):
            messages[stack[-1][1]][m.group(5)] = (m.group(3), m.group(4).split(".")[-1])
        elif m.group(6) and stack and stack[-1][0] == "enum":
            enums[stack[-1][1]].add(m.group(6))
    return messages, enums


SCHEMA, ENUMS = read_schema()
SCALARS = {"string": str, "bool": bool, "float": (float, int), "double": (float, int),
           "int32": int, "uint32": int, "int64": int, "uint64": int}  # fmt: skip


def check_schema(fields: Message, message: str, where: str = "") -> None:
    """Every field exists in `message` with the right kind of value; non-repeated fields appear once."""
    known = SCHEMA[message]
    seen: set[str] = set()
    for key, value in fields:
        assert key in known, f"{where}{message} has no field {key!r}"
        label, kind = known[key]
        assert label == "repeated" or key not in seen, f"{where}{message}.{key} appears twice"
        seen.add(key)
        if kind in SCALARS:
            assert isinstance(value, SCALARS[kind]), f"{where}{message}.{key}: {value!r} is not {kind}"
            if kind.startswith("uint"):
                assert value >= 0
        elif kind in ENUMS:
            assert value in ENUMS[kind], f"{where}{message}.{key}: {value!r} is not a {kind}"
        else:
            assert isinstance(value, list), f"{where}{message}.{key} must be a message"
            check_schema(value, kind, f"{where}{key}.")
    for key, (label, _) in known.items():
        assert label != "required" or key in seen, f"{where}{message}.{key} is required"


def get(fields: Message, key: str, default: Any = None) -> Any:
    return next((v for k, v in fields if k == key), default)


def every(fields: Message, key: str) -> list[Any]:
    return [v for k, v in fields if k == key]


# ----- Caffe's shape rules -----
def spatial(param: Message, key: str, n: int, default: int) -> list[int]:
    if get(param, f"{key}_h") is not None:
        return [get(param, f"{key}_h"), get(param, f"{key}_w")]
    values = every(param, "kernel_size" if key == "kernel" else key)
    return (values * n if len(values) == 1 else values) or [default] * n


def caffe_shape(layer: Message, bottoms: list[list[int]]) -> list[list[int]]:
    kind, x = get(layer, "type"), bottoms[0] if bottoms else []
    if kind == "Input":
        return [every(get(get(layer, "input_param"), "shape"), "dim")]
    if kind in ("Convolution", "Deconvolution"):
        p, n = get(layer, "convolution_param"), len(x) - 2
        k, s, q = spatial(p, "kernel", n, 0), spatial(p, "stride", n, 1), spatial(p, "pad", n, 0)
        d = every(p, "dilation") or [1] * n
        d = d * n if len(d) == 1 else d
        assert x[1] % get(p, "group", 1) == 0 and get(p, "num_output") % get(p, "group", 1) == 0
        if kind == "Convolution":
            sizes = [(i + 2 * qq - (dd * (kk - 1) + 1)) // ss + 1 for i, kk, ss, qq, dd in zip(x[2:], k, s, q, d)]
        else:
            sizes = [ss * (i - 1) + dd * (kk - 1) + 1 - 2 * qq for i, kk, ss, qq, dd in zip(x[2:], k, s, q, d)]
        return [[x[0], get(p, "num_output"), *sizes]]
    if kind == "Pooling":
        p = get(layer, "pooling_param")
        assert len(x) == 4, "Caffe pools 4-D blobs only"
        if get(p, "global_pooling"):
            return [[x[0], x[1], 1, 1]]
        k, s, q = spatial(p, "kernel", 2, 0), spatial(p, "stride", 2, 1), spatial(p, "pad", 2, 0)
        round_up = get(p, "round_mode", "CEIL") == "CEIL"
        sizes = []
        for i, kk, ss, qq in zip(x[2:], k, s, q):
            out = (math.ceil if round_up else math.floor)((i + 2 * qq - kk) / ss) + 1
            if qq and (out - 1) * ss >= i + qq:
                out -= 1
            sizes.append(out)
        return [[x[0], x[1], *sizes]]
    if kind == "InnerProduct":
        p = get(layer, "inner_product_param")
        axis = get(p, "axis", 1)
        return [[*x[:axis], get(p, "num_output")]]
    if kind == "Flatten":
        p = get(layer, "flatten_param", [])
        start, end = get(p, "axis", 1) % len(x), get(p, "end_axis", -1) % len(x)
        return [[*x[:start], math.prod(x[start : end + 1]), *x[end + 1 :]]]
    if kind == "Reduction":
        return [x[: get(get(layer, "reduction_param"), "axis", 0) % len(x)]]
    if kind == "ArgMax":
        p = get(layer, "argmax_param")
        assert get(p, "axis") is not None and not get(p, "out_max_val")
        axis = get(p, "axis") % len(x)
        return [[*x[:axis], get(p, "top_k", 1), *x[axis + 1 :]]]
    if kind == "Tile":
        p = get(layer, "tile_param")
        axis = get(p, "axis", 1) % len(x)
        return [[*x[:axis], x[axis] * get(p, "tiles"), *x[axis + 1 :]]]
    if kind == "Reshape":
        dims = every(get(get(layer, "reshape_param"), "shape"), "dim")
        out = [x[i] if d == 0 else d for i, d in enumerate(dims)]
        if -1 in out:
            known = math.prod(d for d in out if d != -1)
            out[out.index(-1)] = math.prod(x) // known
        assert math.prod(out) == math.prod(x)
        return [out]
    if kind == "Concat":
        axis = get(get(layer, "concat_param"), "axis", 1)
        for b in bottoms:
            assert b[:axis] + b[axis + 1:] == x[:axis] + x[axis + 1:]
        return [[*x[:axis], sum(b[axis] for b in bottoms), *x[axis + 1:]]]
    if kind == "Eltwise":
        assert all(b == x for b in bottoms), "Eltwise needs equal shapes"
        return [x]
    if kind == "Embed":
        return [[*x, get(get(layer, "embed_param"), "num_output")]]
    if kind == "Slice":
        # SliceLayer::Reshape: N - 1 rising slice points cut N tops, or the axis splits evenly.
        p, count = get(layer, "slice_param"), len(every(layer, "top"))
        axis, points = get(p, "axis", 1), every(p, "slice_point")
        if not points:
            assert x[axis] % count == 0
            points = [x[axis] // count * i for i in range(1, count)]
        bounds = [0, *points, x[axis]]
        assert len(points) == count - 1 and all(a < b for a, b in itertools.pairwise(bounds))
        return [[*x[:axis], b - a, *x[axis + 1:]] for a, b in itertools.pairwise(bounds)]
    if kind == "Silence":
        return []
    assert kind in ("ReLU", "Sigmoid", "TanH", "ELU", "PReLU", "Clip", "Swish", "BNLL", "Softmax", "Dropout", "Split",
                    "BatchNorm", "Scale", "MVN", "LRN", "Bias", "AbsVal", "Exp", "Log", "Power", "Threshold"), f"no shape rule for {kind}"  # fmt: skip
    return [x]


def check_prototxt(project: Project) -> Message:
    """Generate, parse, check against caffe.proto, and compare wiring and shapes with the graph."""
    text = generate_caffe(project)
    assert generate_caffe(project) == text, "generation is not deterministic"
    net = parse(text)
    check_schema(net, "NetParameter")
    assert get(net, "name") == project.name
    blobs: dict[str, list[int]] = {}
    producer: dict[str, list[str]] = {}  # blob -> the blobs its layer read
    names: set[str] = set()
    for layer in every(net, "layer"):
        assert get(layer, "name") not in names, "layer names must be unique"
        names.add(get(layer, "name"))
        bottoms = every(layer, "bottom")
        assert all(b in blobs for b in bottoms), f"{get(layer, 'name')} reads a blob no earlier layer wrote"
        tops = every(layer, "top")
        assert not set(tops) & set(blobs), "every blob is written once (no in-place layers)"
        shapes = caffe_shape(layer, [blobs[b] for b in bottoms])
        assert len(shapes) == len(tops)
        for top, shape in zip(tops, shapes):
            blobs[top] = shape
            producer[top] = bottoms
    graph, analysis = project.graph, analyse(project.graph)

    def blob_of(node: Any, port: str) -> str:  # a node's output blob: its name, or its own blob per piece
        return node.name if node.spec.pieces is None else f"{node.name}/{port}"

    written = {blob_of(n, p.name): n.name for n in graph.nodes.values() for p in n.spec.output_ports(n.params)}

    def sources(blob: str) -> list[str]:  # the nodes a node's layers read, through its own blobs, each once
        found = []
        for b in producer[blob]:
            found += [written[b]] if b in written else sources(b)
        return list(dict.fromkeys(found))

    for node_id, node in graph.nodes.items():
        if node.type == "Output":
            edge = graph.source_of(node_id, "in")
            assert edge is not None and blob_of(graph.nodes[edge.src], edge.src_port) in blobs
            continue
        ports = [p.name for p in node.spec.output_ports(node.params)]
        if blob_of(node, ports[0]) not in blobs:
            continue  # a branch that feeds no Output
        result = analysis.result(node_id)
        assert result.outputs is not None
        for port in ports:
            assert blobs[blob_of(node, port)] == [1, *result.outputs[port][1:]], f"{node.name}: Caffe's shape differs"
        wired = [graph.source_of(node_id, p.name) for p in node.spec.input_ports(node.params)]
        assert sources(blob_of(node, ports[0])) == list(dict.fromkeys(graph.nodes[e.src].name for e in wired if e is not None))
    return net


# ----- examples and layers -----
def caffe_ok(project: Project) -> bool:
    return not any(isinstance(n.spec.targets["caffe"], Unsupported) for n in project.graph.nodes.values())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example(path: Path) -> None:
    project = flat_project(load_project(path))  # Caffe writes a network of blocks as its flattened layers
    if not caffe_ok(project):
        with pytest.raises(CodegenError) as err:
            generate_caffe(project)
        bad = [n for n in project.graph.nodes.values() if isinstance(n.spec.targets["caffe"], Unsupported)]
        assert all(f"- {n.name}: {n.type}: " in str(err.value) for n in bad)
        return
    try:
        check_prototxt(project)
    except CodegenError as err:  # only parameter values Caffe lacks may refuse an example
        assert "output_padding" in str(err), err


SUPPORTED = sorted(t for t, s in CATALOGUE.items() if not isinstance(s.targets["caffe"], Unsupported) and t not in ("Input", "Output"))
def test_every_supported_layer_has_an_emitter() -> None:
    assert {t for t, spec in CATALOGUE.items() if spec.caffe is not None} == set(SUPPORTED)


@pytest.mark.parametrize(
    ("layer_type", "params", "shapes"),
    [pytest.param(t, {}, None, id=t) for t in SUPPORTED]
    + [pytest.param(*v, id=f"{v[0]}-{i}") for i, v in enumerate(CAFFE_VARIANTS)],
)
def test_layer(layer_type: str, params: dict, shapes: list | None) -> None:
    net = check_prototxt(single_layer(layer_type, params, shapes))
    if layer_type == "MaxPool2d" and params.get("kernel_size") == 3 and not params.get("ceil_mode"):
        # rounding down: Caffe's rounding up, the trailing windows sliced off (no round_mode, which OpenCV lacks)
        kinds = [get(layer, "type") for layer in every(net, "layer")]
        assert kinds == ["Input", "Pooling", "Slice", "Slice", "Silence"]
        assert not any(get(get(layer, "pooling_param", []), "round_mode") for layer in every(net, "layer"))


def test_the_pytorch_variants_either_export_or_are_refused_by_name() -> None:
    for layer_type, params, shapes in VARIANTS:
        project = single_layer(layer_type, params, shapes)
        try:
            check_prototxt(project)
        except CodegenError as err:
            assert f"- layer: {layer_type}: " in str(err), err


@pytest.mark.parametrize(
    ("layer_type", "params", "shapes", "words"),
    [
        ("Conv2d", {"padding_mode": "reflect", "padding": 1}, None, "padding_mode 'reflect'"),
        ("Conv2d", {"kernel_size": 2, "padding": "same"}, None, "padding 'same'"),
        ("ConvTranspose2d", {"stride": 2, "output_padding": 1}, None, "output_padding"),
        ("MaxPool2d", {"dilation": 2}, None, "dilation"),
        ("AvgPool2d", {"padding": 1, "count_include_pad": False}, None, "count_include_pad"),
        ("LocalResponseNorm", {"size": 4}, None, "odd local_size"),
        ("Softplus", {"beta": 2.0}, None, "beta 2.0"),
        ("InstanceNorm2d", {"track_running_stats": True}, None, "running statistics"),
    ],
)
def test_values_caffe_cannot_express_are_refused(layer_type: str, params: dict, shapes: list | None, words: str) -> None:
    with pytest.raises(CodegenError) as err:
        generate_caffe(single_layer(layer_type, params, shapes))
    assert f"- layer: {layer_type}: " in str(err.value) and words in str(err.value)


def test_all_inexpressible_nodes_are_listed_at_once() -> None:
    graph = Graph()
    x = graph.add_node("Input", "x", {"shape": (6, 8)})
    gelu = graph.add_node("GELU", "act")
    lstm = graph.add_node("LSTM", "rnn", {"hidden_size": 4})
    fc = graph.add_node("Linear", "fc", {"out_features": 3})
    pool = graph.add_node("Reshape", "grid", {"shape": (1, 3, 1)})
    mp = graph.add_node("MaxPool2d", "pool", {"dilation": 2, "kernel_size": 1, "stride": 1})
    out = graph.add_node("Output", "y")
    for a, b in ((x, gelu), (gelu, lstm), (lstm, fc), (fc, pool), (pool, mp), (mp, out)):
        graph.connect(a.id, "hidden" if a is lstm else "out", b.id, "in")
    with pytest.raises(CodegenError) as err:
        generate_caffe(Project(name="mixed", graph=graph))
    text = str(err.value)
    assert "- act: GELU: BVLC Caffe has no GELU layer" in text
    assert "- rnn: LSTM: " in text and "- pool: MaxPool2d: dilation" in text


def test_a_graph_with_errors_is_refused() -> None:
    graph = Graph()
    graph.add_node("Input", "x", {"shape": (3, 8, 8)})
    with pytest.raises(CodegenError, match="fix these first"):
        generate_caffe(Project(name="broken", graph=graph))


HOSTILE = ['a"b', "back\\slash", "new\nline", 'layer { name: "x" }', "}\nlayer {", "名前", "\u202eevil", "# not a comment", "tab\there"]


def test_hostile_names_stay_inside_their_strings() -> None:
    graph = Graph()
    previous = graph.add_node("Input", HOSTILE[0], {"shape": (4,)})
    for name in HOSTILE[1:]:
        node = graph.add_node("Linear", name, {"out_features": 4})
        graph.connect(previous.id, "out", node.id, "in")
        previous = node
    sink = graph.add_node("Output", "out")
    graph.connect(previous.id, "out", sink.id, "in")
    project = Project(name='net"\n}\nlayer {', graph=graph)
    text = generate_caffe(project)
    assert text.isascii()
    net = check_prototxt(project)
    assert [get(layer, "name") for layer in every(net, "layer")] == HOSTILE
    assert len(every(net, "layer")) == len(HOSTILE)


def test_prototxt_string_escapes() -> None:
    assert prototxt_string('a"b\\c\n') == '"a\\"b\\\\c\\012"'
    assert unescape(prototxt_string("é\u202e")[1:-1]) == "é\u202e"


def test_real_prototxts_parse_with_the_test_reader() -> None:
    net = parse((PROTO.parent / "lenet.prototxt").read_text())
    check_schema(net, "NetParameter")
    assert [get(layer, "type") for layer in every(net, "layer")][:3] == ["Input", "Convolution", "Pooling"]
