"""Project files: round trips of random projects, refusal of every malformed file, atomic saves.

Random graphs draw their layer types and parameter values from whatever the catalogue holds,
so the file format keeps up with new layers without touching this test.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from studio.graph import CATALOGUE, Graph
from studio.graph import project as project_module
from studio.graph.json_text import dumps_indented
from studio.graph.params import Param, ParamValueError
from studio.graph.project import (
    FORMAT_VERSION,
    TRAINING_PARAMS,
    Project,
    ProjectFileError,
    TrainingSettings,
    dumps_project,
    load_project,
    loads_project,
    project_from_dict,
    project_to_dict,
    read_record,
    save_project,
)

LAYER_TYPES = sorted(CATALOGUE)
TRICKY_TEXT = ["a", 'conv "1"', "line\nbreak", "ü名前", "'single'", "back\\slash", "tab\tand\u2028sep", "{}[]:,"]


# ----- strategies -----
def param_values(param: Param) -> st.SearchStrategy[Any]:
    """Valid values of one parameter spec, in the forms a user or a file may give them."""
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    low = param.min if param.min is not None else -1e6
    high = param.max if param.max is not None else 1e6
    if param.kind == "float":
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    ints = st.integers(int(low), int(high))
    if param.kind == "int":
        return ints
    if param.length:
        sizes = st.just(param.length)
    else:
        sizes = st.integers(param.min_length, min(16, param.min_length + 4))
    lists = sizes.flatmap(lambda n: st.lists(ints, min_size=n, max_size=n))
    if param.allow_minus_one:
        lists = st.tuples(lists, st.integers(0, 16), st.booleans()).map(
            lambda t: [-1 if (i == t[1] and t[2]) else v for i, v in enumerate(t[0])]
        )
    options = [lists]
    if param.words:
        options.append(st.sampled_from(param.words))
    if param.length:
        options.append(ints)
    return st.one_of(options).map(lambda v: _valid_or_default(param, v))


def _valid_or_default(param: Param, value: Any) -> Any:
    try:
        return param.validate(value)
    except ParamValueError:
        return param.default


texts = st.one_of(st.sampled_from(TRICKY_TEXT), st.text(min_size=1, max_size=30)).filter(lambda s: s.strip())
node_ids = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_.:-]{1,12}", fullmatch=True))
coordinates = st.floats(-1e9, 1e9, exclude_min=True, exclude_max=True, allow_nan=False)


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 7) -> Graph:
    """A random graph: any catalogue layers, random valid parameters, edges that respect ports."""
    graph = Graph()
    for _ in range(draw(st.integers(0, max_nodes))):
        spec = CATALOGUE[draw(st.sampled_from(LAYER_TYPES))]
        params = {p.name: draw(param_values(p)) for p in spec.params if draw(st.booleans())}
        name = graph.unique_name(draw(texts))
        node_id = draw(node_ids)
        position = (draw(coordinates), draw(coordinates))
        graph.add_node(spec.type, name, params, position, None if node_id in graph else node_id)
    outputs = [(n.id, p.name) for n in graph.nodes.values() for p in n.spec.output_ports(n.params)]
    inputs = [(n.id, p.name) for n in graph.nodes.values() for p in n.spec.input_ports(n.params)]
    if outputs and inputs:
        for dst, dst_port in draw(st.lists(st.sampled_from(inputs), unique=True, max_size=10)):
            src, src_port = draw(st.sampled_from(outputs))
            graph.connect(src, src_port, dst, dst_port)
    return graph


def _training_values() -> st.SearchStrategy[dict[str, Any]]:
    fields = {p.name: param_values(p) for p in TRAINING_PARAMS}
    return st.fixed_dictionaries({"dataset": texts, **fields})


trainings = _training_values().map(lambda values: TrainingSettings(**values))
projects = st.builds(Project, name=texts, graph=graphs(), training=trainings, description=st.text(max_size=60))


def graph_state(graph: Graph) -> tuple[dict[str, Any], set[Any]]:
    """Everything a file must preserve: ids, types, names, parameters, positions, the edge set."""
    nodes = {n.id: (n.type, n.name, dict(n.params), n.position) for n in graph.nodes.values()}
    return nodes, set(graph.edges)


def sample_project() -> Project:
    """A small fixed project built from core layers only."""
    graph = Graph()
    x = graph.add_node("Input", "image", {"shape": (1, 8, 8)}, (0.0, 0.0))
    flat = graph.add_node("Flatten", "flat ü", position=(120.5, -3.25))
    fc = graph.add_node("Linear", 'fc "head"', {"out_features": 10, "bias": False}, (240.0, 0.0))
    drop = graph.add_node("Dropout", "drop", {"p": 0.25}, (360.0, 0.0))
    out = graph.add_node("Output", "logits", position=(480.0, 0.0))
    for a, b in [(x, flat), (flat, fc), (fc, drop), (drop, out)]:
        graph.connect(a.id, "out", b.id, "in")
    training = TrainingSettings(epochs=3, batch_size=32, optimizer="sgd", learning_rate=0.1, seed=7)
    return Project("digits", graph, training, "A tiny\nclassifier.")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("projects")


def expect_error(path: Path, place: str, *fragments: str) -> ProjectFileError:
    """Load `path`, expect one clean error at `place` mentioning each fragment, file untouched."""
    before = path.read_bytes()
    with pytest.raises(ProjectFileError) as info:
        load_project(path)
    err = info.value
    assert path.read_bytes() == before
    assert err.path == str(path) and err.place == place, str(err)
    prefix = f"{path}: {place}: " if place else f"{path}: "
    assert str(err).startswith(prefix), str(err)
    for fragment in fragments:
        assert fragment in str(err), str(err)
    return err


# ----- 1. round trips -----
@given(project=projects)
def test_random_projects_round_trip_byte_identically(project: Project, folder: Path) -> None:
    first, second = folder / "rt1.lstudio", folder / "rt2.lstudio"
    save_project(project, first)
    loaded = load_project(first)
    save_project(loaded, second)
    assert first.read_bytes() == second.read_bytes()
    assert graph_state(loaded.graph) == graph_state(project.graph)
    assert (loaded.name, loaded.description, loaded.training) == (project.name, project.description, project.training)
    assert project_to_dict(project_from_dict(project_to_dict(project))) == project_to_dict(project)


def test_loaded_graph_is_live_and_keeps_ids(tmp_path: Path) -> None:
    project = sample_project()
    path = tmp_path / "sample.lstudio"
    save_project(project, path)
    loaded = load_project(path).graph
    assert list(loaded.nodes) == ["n1", "n2", "n3", "n4", "n5"]
    assert loaded.new_id() == "n6"
    assert loaded.node_by_name('fc "head"').params == {"out_features": 10, "bias": False}
    loaded.rename("n3", "fc")  # the graph loaded from a file is an ordinary, editable graph
    assert loaded.node("n3").name == "fc"


def test_node_order_is_natural_not_lexical() -> None:
    graph = Graph()
    for i in range(1, 12):
        graph.add_node("Identity", f"id{i}")
    assert list(loads_project(dumps_project(Project("p", graph))).graph.nodes) == [f"n{i}" for i in range(1, 12)]


# ----- 2. malformed files never crash -----
def check_never_crashes(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        project = load_project(path)
    except ProjectFileError as err:
        assert err.path == str(path) and str(err).startswith(str(path))
        assert "\n" not in str(err), "a message is one line"
    else:  # whatever loads is a consistent project that saves and loads again
        assert project_to_dict(project_from_dict(project_to_dict(project))) == project_to_dict(project)
    assert path.read_bytes() == data


@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes, folder: Path) -> None:
    check_never_crashes(folder / "bytes.lstudio", data)


SAMPLE_BYTES = dumps_project(sample_project()).encode()


flips = st.lists(st.tuples(st.integers(0, len(SAMPLE_BYTES) - 1), st.integers(0, 255)), max_size=3)


@given(cut=st.integers(0, len(SAMPLE_BYTES)), flips=flips)
def test_truncated_or_corrupted_files_never_crash(cut: int, flips: list[tuple[int, int]], folder: Path) -> None:
    data = bytearray(SAMPLE_BYTES)
    for index, byte in flips:
        data[index] = byte
    check_never_crashes(folder / "cut.lstudio", bytes(data[:cut]))


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities are written as NaN / Infinity
    st.text(max_size=20),
    st.sampled_from(
        [-1, 0, 1, 2**31, 2**63, 10**400, -(10**400), 1e308, -1e-320, "", " ", "Linear", "Concat", "in", "in2", "out",
         "n1", "n2", "\ud800", "x" * 100_000, [0, 0], [], {}, [1e999, 0], ["n1", "out"], "__DEEP__", "__DIGITS__"]
    ),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def subtree_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += subtree_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += subtree_paths(item, (*prefix, index))
    return paths


def mutated(data: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"extra_{last}"] = value
    return data


@given(data=st.data())
def test_mutated_project_files_never_crash(data: st.DataObject, folder: Path) -> None:
    original = json.loads(SAMPLE_BYTES)
    path = data.draw(st.sampled_from(subtree_paths(original)))
    action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    value = data.draw(json_values)
    note(f"{action} at {path}")
    text = json.dumps(mutated(original, path, action, value), sort_keys=True)
    depth = data.draw(st.integers(1, 5000))
    text = text.replace('"__DEEP__"', "[" * depth + "]" * depth).replace('"__DIGITS__"', "9" * 5000)
    check_never_crashes(folder / "mutated.lstudio", text.encode("utf-8", "surrogatepass"))


def with_change(tmp_path: Path, change: Any) -> Path:
    data = json.loads(SAMPLE_BYTES)
    change(data)
    path = tmp_path / "digits.lstudio"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _node(n: str, **values: Any) -> Any:
    return lambda d: d["graph"]["nodes"][n].update(values)


def _param(n: str, key: str, value: Any) -> Any:
    return lambda d: d["graph"]["nodes"][n]["params"].__setitem__(key, value)


def _edge(src: list[str], dst: list[str]) -> Any:
    return lambda d: d["graph"]["edges"].append({"from": src, "to": dst})


def _training(key: str, value: Any) -> Any:
    return lambda d: d["training"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "place", "fragments"),
    [
        (_node("n3", type="Lineer"), "graph.nodes.n3.type", ["unknown layer type", "Linear"]),
        (_node("n3", type=3), "graph.nodes.n3.type", ["layer type"]),
        (_param("n3", "kernel_size", 3), "graph.nodes.n3.params.kernel_size", ["no parameter", "out_features, bias"]),
        (_param("n3", "out_features", "x"), "graph.nodes.n3.params.out_features", ["integer from 1 to 1000000", "'x'"]),
        (_param("n3", "out_features", True), "graph.nodes.n3.params.out_features", ["integer"]),
        (_param("n3", "out_features", -5), "graph.nodes.n3.params.out_features", ["-5"]),
        (_param("n3", "out_features", 10**400), "graph.nodes.n3.params.out_features", ["integer"]),
        (_param("n4", "p", float("nan")), "graph.nodes.n4.params.p", ["number from 0 to 0.99"]),
        (_param("n4", "p", 10**400), "graph.nodes.n4.params.p", ["number"]),
        (_param("n1", "shape", [1, "8"]), "graph.nodes.n1.params.shape", ["integers"]),
        (_node("n2", name="image"), "graph.nodes.n2.name", ["already called", "unique"]),
        (_node("n2", name="   "), "graph.nodes.n2.name", ["non-empty"]),
        (_node("n2", name=None), "graph.nodes.n2.name", ["null"]),
        (_node("n2", position=[1, float("inf")]), "graph.nodes.n2.position", ["two numbers"]),
        (_node("n2", position=[True, 0]), "graph.nodes.n2.position", ["two numbers"]),
        (_node("n2", colour="red"), "graph.nodes.n2.colour", ["unknown key", "name, params, position, type"]),
        (lambda d: d["graph"]["nodes"]["n2"].pop("type"), "graph.nodes.n2.type", ["missing"]),
        (lambda d: d["graph"]["nodes"].__setitem__("bad id", {"type": "Identity", "name": "q"}),
         'graph.nodes["bad id"]', ["invalid node id"]),
        (_edge(["n9", "out"], ["n5", "in"]), "graph.edges[4].from", ["no node has the id \"n9\"", "n1, n2"]),
        (_edge(["n1", "output"], ["n3", "in"]), "graph.edges[4].from", ['no output port "output"', "its outputs: out"]),
        (_edge(["n1", "out"], ["n1", "in"]), "graph.edges[4].to", ["no input port", "it has no inputs"]),
        (_edge(["n1", "out"], ["n3", "in"]), "graph.edges[4].to", ["fed already by graph.edges[", "exactly one"]),
        (_edge(["n1", "out"], ["n2", "in"]), "graph.edges[4].to", ["the same connection as"]),
        (_edge(["n1"], ["n2", "in"]), "graph.edges[4].from", ["[node id, port name]"]),
        (lambda d: d["graph"]["edges"].append("n1->n2"), "graph.edges[4]", ['"from"']),
        (lambda d: d["graph"].__setitem__("edges", {}), "graph.edges", ["list of edges"]),
        (lambda d: d.pop("graph"), "graph", ["missing"]),
        (lambda d: d.__setitem__("format_version", "1"), "format_version", ["whole number"]),
        (lambda d: d.__setitem__("format_version", True), "format_version", ["whole number"]),
        (lambda d: d.__setitem__("format_version", 0), "format_version", ["whole number"]),
        (lambda d: d.pop("format_version"), "format_version", ["not a Layer Studio project"]),
        (lambda d: d.__setitem__("extra", 1), "extra", ["unknown key", "description, format_version, graph"]),
        (lambda d: d.__setitem__("name", ""), "name", ["non-empty"]),
        (lambda d: d.__setitem__("description", 5), "description", ["text"]),
        (_training("lr", 0.1), "training.lr", ["unknown key", "learning_rate", "batch_size, compile, dataset"]),
        (_training("epochs", True), "training.epochs", ["integer from 1 to 100000"]),
        (_training("epochs", 0), "training.epochs", ["integer from 1 to 100000"]),
        (_training("batch_size", 2.5), "training.batch_size", ["integer"]),
        (_training("learning_rate", float("nan")), "training.learning_rate", ["number"]),
        (_training("learning_rate", 0), "training.learning_rate", ["number"]),
        (_training("learning_rate", 11), "training.learning_rate", ["to 10"]),
        (_training("optimizer", "adagrad"), "training.optimizer", ["'sgd', 'adam', 'adamw', 'rmsprop'"]),
        (_training("loss", None), "training.loss", ["cross_entropy"]),
        (_training("validation_split", 0.95), "training.validation_split", ["0.9"]),
        (_training("dataset", ""), "training.dataset", ["dataset"]),
        (lambda d: d.__setitem__("training", []), "training", ["object"]),
        (lambda d: d.__setitem__("name", "\ud800"), "name", ["not valid Unicode"]),
    ],
)
def test_each_problem_is_reported_at_its_place(tmp_path: Path, change: Any, place: str, fragments: list[str]) -> None:
    expect_error(with_change(tmp_path, change), place, *fragments)


@pytest.mark.parametrize(
    ("text", "place", "fragment"),
    [
        (b"", "", "empty"),
        (b"[1, 2]", "", "top level must be a JSON object"),
        (b'"project"', "", "not a text"),
        (b'{"format_version": 1,\n "graph": {', "line 2, column 12", "not valid JSON"),
        (b"\xff\xfe{}", "", "not a text file"),
        (b"[" * 100_000 + b"]" * 100_000, "", "nested too deeply"),
        (b'{"format_version": 1, "graph": {"nodes": {}, "nodes": {}}}', "graph", 'key "nodes" appears more than once'),
        (b'{"format_version": 1, "graph": {"edges": [' + b"[" * 40 + b"]" * 40 + b"]}}", "graph.edges" + "[0]" * 30, "nested"),
        (b'{"format_version": 1, "graph": {"nodes": {"n1": 9' + b"9" * 5000 + b"}}}", "", "too many digits"),
    ],
)
def test_unreadable_files_are_reported(tmp_path: Path, text: bytes, place: str, fragment: str) -> None:
    path = tmp_path / "bad.lstudio"
    path.write_bytes(text)
    expect_error(path, place, fragment)


def test_file_problems_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expect = tmp_path / "missing.lstudio"
    with pytest.raises(ProjectFileError, match="no such file"):
        load_project(expect)
    with pytest.raises(ProjectFileError, match="is a folder"):
        load_project(tmp_path)
    path = tmp_path / "big.lstudio"
    save_project(sample_project(), path)
    monkeypatch.setattr(project_module, "MAX_FILE_BYTES", 100)
    expect_error(path, "", "larger than")


def test_newer_format_version_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = with_change(tmp_path, lambda d: d.update(format_version=7, graph="a future layout"))
    with pytest.raises(ProjectFileError) as info:
        load_project(path)
    assert str(info.value) == (
        f"{path} was written by a newer Layer Studio (format_version 7; this version reads up to 3): update Layer Studio"
    )


def test_missing_optional_sections_take_defaults(tmp_path: Path) -> None:
    path = tmp_path / "minimal.lstudio"
    path.write_text('\ufeff{"format_version": 1, "graph": {"nodes": {"a": {"type": "Linear", "name": "fc"}}}}')
    project = load_project(path)
    assert project.name == "minimal" and project.description == ""
    assert project.training == TrainingSettings()
    assert project.graph.node("a").params == CATALOGUE["Linear"].defaults()
    assert project.graph.node("a").position == (0.0, 0.0)


def test_cycles_are_not_a_file_error() -> None:
    graph = Graph()
    a, b = graph.add_node("Identity", "a"), graph.add_node("Identity", "b")
    graph.connect(a.id, "out", b.id, "in")
    graph.connect(b.id, "out", a.id, "in")
    assert set(loads_project(dumps_project(Project("loop", graph))).graph.edges) == set(graph.edges)


def test_variadic_ports_follow_the_parameter() -> None:
    variadic = [spec for spec in CATALOGUE.values() if spec.variadic]
    if not variadic:
        pytest.skip("the catalogue has no variadic layer")
    spec = variadic[0]
    graph = Graph()
    x = graph.add_node("Input", "x")
    merge = graph.add_node(spec.type, "merge", {"num_inputs": 3})
    graph.connect(x.id, "out", merge.id, "in3")
    data = project_to_dict(Project("p", graph))
    assert project_from_dict(data).graph.source_of(merge.id, "in3") is not None
    data["graph"]["nodes"][merge.id]["params"]["num_inputs"] = 2
    with pytest.raises(ProjectFileError, match=r"graph\.edges\[0\]\.to: .* no input port \"in3\" \(its inputs: in1, in2\)"):
        project_from_dict(data)


def test_records_come_before_the_graph() -> None:
    record = read_record(project_to_dict(sample_project()))
    assert [n.id for n in record.nodes] == ["n1", "n2", "n3", "n4", "n5"]
    assert record.nodes[2].params == {"out_features": 10, "bias": False}
    assert [(e.src, e.dst, e.index) for e in record.edges][:1] == [("n1", "n2", 0)]
    with pytest.raises(ProjectFileError, match=r"^<project>: graph: must be"):
        read_record({"format_version": 1, "graph": []})


# ----- 3. atomic save -----
def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_into_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="does not exist") as info:
        save_project(sample_project(), tmp_path / "nowhere" / "a.lstudio")
    assert info.value.path == str(tmp_path / "nowhere" / "a.lstudio")
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write in read-only folders")
def test_save_into_a_read_only_folder_fails_cleanly(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ProjectFileError, match="permission denied"):
            save_project(sample_project(), locked / "a.lstudio")
        assert leftovers(locked) == []
    finally:
        locked.chmod(0o755)


def test_permission_denied_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ProjectFileError, match=r"a\.lstudio: cannot be saved: permission denied"):
        save_project(sample_project(), tmp_path / "a.lstudio")
    monkeypatch.undo()
    assert leftovers(tmp_path) == []


def test_save_replaces_an_existing_file_completely(tmp_path: Path) -> None:
    path = tmp_path / "a.lstudio"
    path.write_text("x" * 100_000)
    path.chmod(0o640)
    project = sample_project()
    save_project(project, path)
    assert path.read_text(encoding="utf-8") == dumps_project(project)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == ["a.lstudio"]


def test_save_through_a_symbolic_link_keeps_the_link(tmp_path: Path) -> None:
    real, link = tmp_path / "real.lstudio", tmp_path / "link.lstudio"
    real.write_text("old")
    link.symlink_to(real)
    save_project(sample_project(), link)
    assert link.is_symlink() and real.read_text(encoding="utf-8") == dumps_project(sample_project())


def _fail(exc: BaseException) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return lambda real: fail


def _half_write(real: Any) -> Any:
    def write(fd: int, data: Any) -> int:
        real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


@pytest.mark.parametrize(
    ("target", "name", "make", "error", "fragment"),
    [
        (project_module, "dumps_indented", _fail(ValueError("Out of range float values")), ProjectFileError, "cannot be written as JSON"),
        (os, "write", _half_write, ProjectFileError, "the disk is full"),
        (os, "fsync", _fail(OSError(errno.EIO, "Input/output error")), ProjectFileError, "Input/output error"),
        (os, "replace", _fail(OSError(errno.EXDEV, "Invalid cross-device link")), ProjectFileError, "cross-device"),
        (os, "replace", _fail(RuntimeError("interrupted")), RuntimeError, "interrupted"),
    ],
)
def test_a_failed_save_leaves_the_old_file_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: Any, name: str, make: Any, error: type, fragment: str
) -> None:
    path = tmp_path / "a.lstudio"
    save_project(sample_project(), path)
    before = path.read_bytes()
    monkeypatch.setattr(target, name, make(getattr(target, name)))
    with pytest.raises(error, match=fragment):
        save_project(Project("other", Graph()), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == ["a.lstudio"]


def test_an_unsaveable_project_is_refused_before_writing(tmp_path: Path) -> None:
    graph = Graph()
    graph.add_node("Identity", "lone \ud800 surrogate")
    with pytest.raises(ProjectFileError, match="cannot be written"):
        save_project(Project("p", graph), tmp_path / "a.lstudio")
    assert leftovers(tmp_path) == []


# ----- 4. stable output -----
GOLDEN = """{
  "description": "",
  "format_version": 2,
  "graph": {
    "edges": [{"from": ["n1", "out"], "to": ["n2", "in"]}],
    "nodes": {
      "n1": {"name": "ünïcode", "params": {}, "position": [0.0, -1.5], "type": "Identity"},
      "n2": {"name": "out", "params": {}, "position": [200.0, 0.0], "type": "Output"}
    }
  },
  "name": "tiny",
  "training": {
    "augment": false,
    "batch_size": 64,
    "compile": false,
    "dataset": "digits",
    "device": "auto",
    "early_stopping": 0,
    "epochs": 10,
    "grad_clip": 0.0,
    "init": "seed",
    "learning_rate": 0.001,
    "loss": "cross_entropy",
    "momentum": 0.9,
    "optimizer": "adam",
    "precision": "fp32",
    "schedule": "constant",
    "seed": 0,
    "target": "",
    "validation_split": 0.1,
    "weight_decay": 0.0,
    "weights": ""
  }
}
"""


def test_the_file_format_is_stable_and_readable() -> None:
    graph = Graph()
    a = graph.add_node("Identity", "ünïcode", position=(0, -1.5))
    b = graph.add_node("Output", "out", position=(200, 0))
    graph.connect(a.id, "out", b.id, "in")
    assert dumps_project(Project("tiny", graph)) == GOLDEN  # format 2: a project without blocks opens in older versions
    assert FORMAT_VERSION == 3


@given(graph=graphs(max_nodes=5))
def test_output_is_sorted_and_independent_of_edge_order(graph: Graph) -> None:
    text = dumps_project(Project("p", graph))
    data = json.loads(text)
    assert text == dumps_indented(data) + "\n"
    edges = [(e["from"], e["to"]) for e in data["graph"]["edges"]]
    assert edges == sorted(edges)
    assert all(set(n["params"]) == {p.name for p in CATALOGUE[n["type"]].params} for n in data["graph"]["nodes"].values())
    rewired = Graph()
    for node in graph.nodes.values():
        rewired.add_node(node.type, node.name, node.params, node.position, node.id)
    for edge in reversed(graph.edges):
        rewired.connect(edge.src, edge.src_port, edge.dst, edge.dst_port)
    assert dumps_project(Project("p", rewired)) == text


def test_settings_and_project_check_themselves() -> None:
    assert TrainingSettings(learning_rate=1).learning_rate == 1.0
    with pytest.raises(ValueError, match="epochs"):
        TrainingSettings(epochs=0)
    with pytest.raises(ValueError, match="the project name must be"):
        Project("  ")


def test_a_format_1_file_still_opens() -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "format1" / "mlp.lstudio"
    assert json.loads(path.read_text(encoding="utf-8"))["format_version"] == 1
    project = load_project(path)
    assert project.training.weights == "mlp.weights.npz" and len(project.graph.nodes) == 7
    assert json.loads(dumps_project(project))["format_version"] == 2
