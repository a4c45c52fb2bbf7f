"""Project files (*.lstudio): the graph, its layout and the training settings as diff-friendly JSON.

A file is read in three steps, so a bad file never half-builds a project: the bytes are parsed
as JSON, the whole structure is checked into plain frozen records (`ProjectRecord`), and only
then is a `Graph` built through its public methods. Every problem becomes one
`ProjectFileError` that names the file and the place, e.g.
``digits.lstudio: graph.nodes.n3.params.kernel_size: 'kernel_size' must be ...``.
Saving writes a temporary file next to the target and renames it over the old one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from studio.graph.atomic import describe_os_error, write_atomically
from studio.graph.block_files import blocks_to_dict, read_blocks
from studio.graph.blocks import BlockLibrary, expansion_problem
from studio.graph.bulk import collector_paused
from studio.graph.graph_records import (
    EdgeRecord,
    NodeRecord,
    build_graph,
    graph_to_dict,
    read_graph,
)
from studio.graph.graph_records import RecordError as _Invalid
from studio.graph.graph_records import kind as _kind
from studio.graph.graph_records import known_keys as _known_keys
from studio.graph.graph_records import mapping as _mapping
from studio.graph.graph_records import show as _show
from studio.graph.graph_records import validate as _validate
from studio.graph.json_text import dumps_indented
from studio.graph.model import MAX_NAME_LENGTH, Graph
from studio.graph.params import Bool, Choice, Float, Int, Param, ParamValueError
from studio.graph.regular_files import (
    FileTooLargeError,
    NotRegularFileError,
    read_regular,
)

# Format history. 1: the first. 2: `training.weights` names a file keyed by node id (see
# `studio.codegen.weights`); a format 1 project's weights file is keyed by the generated
# attribute names of its layers as they were named then (still read: the editor re-keys it).
# 3: the project's blocks (`blocks`); a project without blocks is still written as format 2,
# so that older versions of Layer Studio open it.
FORMAT_VERSION = 3
SUFFIX = ".lstudio"
MAX_FILE_BYTES = 64 * 2**20
MAX_DEPTH = 32
MAX_DESCRIPTION_LENGTH = 100_000
MAX_DATASET_LENGTH = 1024
POSITION_LIMIT = 1e9

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "mse", "bce_with_logits", "l1")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
INITS = ("seed", "weights")

TRAINING_PARAMS: tuple[Param, ...] = (
    Int("epochs", 10, "Passes over the training data.", min=1, max=100_000),
    Int("batch_size", 64, "Samples per optimizer step.", min=1, max=1_000_000),
    Choice("optimizer", "adam", OPTIMIZERS, "The optimization algorithm."),
    Float("learning_rate", 0.001, "Step size of the optimizer.", min=1e-10, max=10.0),
    Float("weight_decay", 0.0, "L2 penalty on the weights (decoupled for adamw).", min=0.0, max=1.0),
    Choice("loss", "cross_entropy", LOSSES, "What the training minimizes."),
    Float("validation_split", 0.1, "Fraction of the data held out for validation.", min=0.0, max=0.9),
    Int("seed", 0, "Random seed for initialization, shuffling and the validation split.", min=0, max=2**32 - 1),
    Choice("init", "seed", INITS, "How the weights start: fresh from the seed, or the project's weights (to fine-tune an imported or trained model)."),
    Choice("schedule", "constant", SCHEDULES, "How the learning rate changes over the run."),
    Float("momentum", 0.9, "Momentum of SGD (0 for none).", min=0.0, max=0.999),
    Float("grad_clip", 0.0, "Largest gradient norm allowed per step (0: no clipping).", min=0.0, max=1e6),
    Int("early_stopping", 0, "Stop after this many epochs without a better validation loss (0: never).", min=0, max=100_000),
    Choice("device", "auto", DEVICES, "Where to train: auto picks CUDA, then MPS, then the CPU."),
    Choice("precision", "fp32", PRECISIONS, "Mixed precision on a GPU (bf16 or fp16 autocast); the CPU trains in fp32."),
    Bool("compile", False, "Compile the model with torch.compile on a GPU (slower start, faster steps)."),
    Bool("augment", False, "Random crops and flips of training images."),
)
TEXT_SETTINGS = {  # name: what it holds (free text, checked for length only)
    "dataset": 'the name of a built-in dataset (such as "digits") or a path to a data file or folder',
    "target": "the target column of a CSV file (empty: the last column), or 'input' to reconstruct the samples",
    "weights": "the latest trained weights, relative to the project file (empty: none)",
}
_TRAINING_BY_NAME = {p.name: p for p in TRAINING_PARAMS}
_TOP_KEYS = ("blocks", "description", "format_version", "graph", "name", "training")
_T = TypeVar("_T")


class ProjectFileError(Exception):
    """A project file that cannot be read or written; the message names the file and the place."""

    def __init__(self, message: str, path: str = "", place: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.place = place
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class TrainingSettings:
    """How the network is trained: the dataset and the optimization settings, validated."""

    dataset: str = "digits"
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 0.001
    weight_decay: float = 0.0
    loss: str = "cross_entropy"
    validation_split: float = 0.1
    seed: int = 0
    init: str = "seed"
    schedule: str = "constant"
    momentum: float = 0.9
    grad_clip: float = 0.0
    early_stopping: int = 0
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    augment: bool = False
    target: str = ""
    weights: str = ""

    def __post_init__(self) -> None:
        for name in TEXT_SETTINGS:
            object.__setattr__(self, name, _check_text(name, getattr(self, name)))
        for param in TRAINING_PARAMS:
            object.__setattr__(self, param.name, _validate(param, getattr(self, param.name)))

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)


@dataclass(eq=False)
class Project:
    """A network with its layout and training settings: what one *.lstudio file holds."""

    name: str
    graph: Graph = field(default_factory=Graph)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_description(self.description)
        if self.graph.library is None:
            self.graph.library = BlockLibrary()

    @property
    def blocks(self) -> BlockLibrary:
        """The project's blocks: their names are layer types in its graph."""
        return self.graph.library


def trained_weights(project: Project, project_path: str | os.PathLike[str] | None) -> Path | None:
    """The project's latest trained weights file (`training.weights`, relative to the project's folder), if any."""
    if not project.training.weights:
        return None
    path = Path(project.training.weights).expanduser()
    if not path.is_absolute() and project_path is not None:
        path = Path(project_path).resolve().parent / path
    return path


@dataclass(frozen=True)
class ProjectRecord:
    """A whole project file, checked: building a Graph from it cannot fail on the file's account."""

    format_version: int
    name: str
    description: str
    nodes: tuple[NodeRecord, ...]
    edges: tuple[EdgeRecord, ...]
    training: TrainingSettings
    blocks: BlockLibrary | None = None  # built while checking: the graph's records refer to its blocks


class _Newer(Exception):
    """The file has a format_version this version cannot read."""


# ----- writing -----
def project_to_dict(project: Project) -> dict[str, Any]:
    """Return the project as the JSON-ready dict a file holds (every parameter written out)."""
    _check_name(project.name)
    _check_description(project.description)
    found = {
        "format_version": FORMAT_VERSION if project.blocks else 2,
        "name": project.name,
        "description": project.description,
        "graph": graph_to_dict(project.graph),
        "training": project.training.to_dict(),
    }
    if project.blocks:
        found["blocks"] = blocks_to_dict(project.blocks)
    return found


def dumps_project(project: Project) -> str:
    """Return the file text: sorted keys, two-space indent, a layer or wire per line (`json_text`), UTF-8 characters kept, final newline."""
    data = project_to_dict(project)
    return dumps_indented(data) + "\n"


@collector_paused()
def save_project(project: Project, path: str | os.PathLike[str]) -> None:
    """Write the project to `path` atomically: a temporary file in the same folder, renamed over it.

    Raises:
        ProjectFileError: the project cannot be written there; the old file is left as it was.
    """
    source = os.fspath(path)
    try:
        payload = dumps_project(project).encode("utf-8")
    except (ValueError, TypeError, RecursionError) as err:
        raise _error(source, "", f"cannot be saved: the project cannot be written as JSON ({err})") from err
    try:
        write_atomically(source, payload)
    except OSError as err:
        raise _error(source, "", f"cannot be saved: {describe_os_error(err)}") from err


# ----- reading -----
@collector_paused()
def load_project(path: str | os.PathLike[str]) -> Project:
    """Read a project file; the file is only read, never changed.

    Raises:
        ProjectFileError: the file cannot be read or is not a valid project; the message names
            the file and the place.
    """
    source = os.fspath(path)
    try:
        data = read_regular(source, MAX_FILE_BYTES, "project file")
    except NotRegularFileError as err:
        raise _error(source, "", err.reason) from None
    except FileTooLargeError:
        raise _error(source, "", f"is larger than {MAX_FILE_BYTES // 2**20} MiB: not a Layer Studio project") from None
    except FileNotFoundError as err:
        raise _error(source, "", "no such file") from err
    except PermissionError as err:
        raise _error(source, "", "permission denied: the file cannot be read") from err
    except OSError as err:
        raise _error(source, "", f"cannot be read: {err.strerror or err}") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        reason = f"not a text file (byte {err.start} is not valid UTF-8): a project file is JSON text"
        raise _error(source, "", reason) from None
    return _decode(text, source, Path(source).stem[:MAX_NAME_LENGTH].strip() or "untitled")


def loads_project(text: str, source: str = "<string>") -> Project:
    """Read a project from file text; `source` names it in error messages."""
    if not isinstance(text, str):
        raise _error(source, "", f"a project is JSON text, not {type(text).__name__}")
    return _decode(text, source, "untitled")


def project_from_dict(data: Any, source: str = "<project>") -> Project:
    """Build a project from its dict form (as `project_to_dict` returns), checking everything."""
    return _guarded(lambda: _build(_record(data, "untitled")), source)


def read_record(data: Any, source: str = "<project>") -> ProjectRecord:
    """Check a project's dict form into plain records without building a graph."""
    return _guarded(lambda: _record(data, "untitled"), source)


def _decode(text: str, source: str, default_name: str) -> Project:
    if len(text) > MAX_FILE_BYTES:
        raise _error(source, "", f"is larger than {MAX_FILE_BYTES // 2**20} MiB: not a Layer Studio project")
    return _guarded(lambda: _build(_record(_parse(text), default_name)), source)


def _guarded(step: Callable[[], _T], source: str) -> _T:
    try:
        return step()
    except _Invalid as err:
        raise _error(source, err.place, err.reason) from None
    except _Newer as err:
        raise ProjectFileError(f"{source} {err}", source, "format_version", str(err)) from None
    except RecursionError:
        raise _error(source, "", "nested too deeply to be a project file") from None


def _error(source: str, place: str, reason: str) -> ProjectFileError:
    message = f"{source}: {place}: {reason}" if place else f"{source}: {reason}"
    return ProjectFileError(message, source, place, reason)


class _Object(dict):  # type: ignore[type-arg]
    """A parsed JSON object that remembers a key it saw twice (json keeps only the last)."""

    duplicate: str | None = None


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj and obj.duplicate is None:
            obj.duplicate = key
        obj[key] = value
    return obj


def _parse(text: str) -> Any:
    if not text.strip():
        raise _Invalid("", "the file is empty")
    try:
        return json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as err:
        raise _Invalid(f"line {err.lineno}, column {err.colno}", f"not valid JSON: {err.msg}") from None
    except RecursionError:
        raise _Invalid("", "the JSON is nested too deeply to be a project file") from None
    except ValueError:  # an integer with more digits than Python converts
        raise _Invalid("", "not a valid project file: a number has far too many digits") from None


# ----- step 1: structure into records -----
def _record(data: Any, default_name: str) -> ProjectRecord:
    if not isinstance(data, dict):
        raise _Invalid("", f"the top level must be a JSON object (a Layer Studio project), not {_kind(data)}")
    version = _format_version(data)
    _check_tree(data)
    _known_keys(data, (), _TOP_KEYS)
    name, description = data.get("name", default_name), data.get("description", "")
    for key, check, value in (("name", _check_name, name), ("description", _check_description, description)):
        try:
            check(value)
        except ValueError as err:
            raise _Invalid((key,), str(err)) from None
    if "graph" not in data:
        raise _Invalid(("graph",), "missing (an object with the project's nodes and edges)")
    blocks = read_blocks(data["blocks"]) if "blocks" in data else BlockLibrary()
    nodes, edges = read_graph(data["graph"], ("graph",), blocks)
    training = _training(data.get("training", {}))
    return ProjectRecord(version, name, description, nodes, edges, training, blocks)


def _format_version(data: dict[str, Any]) -> int:
    if "format_version" not in data:
        raise _Invalid(("format_version",), "missing: this is not a Layer Studio project file")
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _Invalid(("format_version",), f"must be a whole number from 1 to {FORMAT_VERSION}, not {_show(version)}")
    if version > FORMAT_VERSION:
        shown = version if version < 10**12 else _show(version)
        raise _Newer(
            f"was written by a newer Layer Studio (format_version {shown}; "
            f"this version reads up to {FORMAT_VERSION}): update Layer Studio"
        )
    return version


def _check_tree(data: Any) -> None:
    """Refuse deep nesting, repeated keys, non-text keys and text that is not valid Unicode.

    Each container is visited once, and a value's path (parent, key) is spelled out only for
    an error: a 100,000-node file holds over a million values.
    """
    stack: list[tuple[Any, int, Any]] = [(data, 0, None)]  # (value, depth, (parent's place, key) or None)
    while stack:
        value, depth, place = stack.pop()
        if depth >= MAX_DEPTH:
            raise _Invalid(_spelled(place), f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            duplicate = getattr(value, "duplicate", None)
            if duplicate is not None:
                raise _Invalid(_spelled(place), f"the key {_show(duplicate)} appears more than once")
            items: Any = value.items()
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        else:
            if isinstance(value, str) and not value.isascii():
                _check_unicode(value, _spelled(place))
            continue
        for key, item in items:
            if isinstance(key, str):
                if not key.isascii():
                    _check_unicode(key, _spelled(place))
            elif isinstance(value, dict):
                raise _Invalid(_spelled(place), f"keys must be text, not {_show(key)}")
            if isinstance(item, (dict, list, tuple)) or depth + 1 >= MAX_DEPTH or (isinstance(item, str) and not item.isascii()):
                stack.append((item, depth + 1, (place, key)))


def _spelled(place: Any) -> tuple[str | int, ...]:
    """The path of a place kept as (parent's place, key) links."""
    keys = []
    while place is not None:
        place, key = place
        keys.append(key)
    return tuple(reversed(keys))


def _check_unicode(text: str, path: tuple[str | int, ...]) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _Invalid(path, "contains a character that is not valid Unicode (a lone surrogate)") from None


def _training(value: Any) -> TrainingSettings:
    settings = _mapping(value, ("training",), "an object of training settings")
    valid = (*TEXT_SETTINGS, *_TRAINING_BY_NAME)
    _known_keys(settings, ("training",), valid)
    values: dict[str, Any] = {}
    for key, item in settings.items():
        try:
            values[key] = _check_text(key, item) if key in TEXT_SETTINGS else _validate(_TRAINING_BY_NAME[key], item)
        except ParamValueError as err:
            raise _Invalid(("training", key), str(err)) from None
    return TrainingSettings(**values)


# ----- step 2: records into a graph -----
def _build(record: ProjectRecord) -> Project:
    graph = build_graph(Graph(library=record.blocks or BlockLibrary()), record.nodes, record.edges, ("graph",))
    reason = expansion_problem(graph)
    if reason is not None:
        raise _Invalid("graph", f"cannot be opened: {reason}")
    return Project(record.name, graph, record.training, record.description)


# ----- small checks shared by reading and writing -----
def _check_text(name: str, value: Any) -> str:
    empty_ok = name != "dataset"
    if not isinstance(value, str) or (not value.strip() and not empty_ok) or len(value) > MAX_DATASET_LENGTH:
        kind = "a" if empty_ok else "a non-empty"
        raise ParamValueError(
            f"'{name}' must be {TEXT_SETTINGS[name]}: {kind} text of at most {MAX_DATASET_LENGTH} characters, "
            f"not {_show(value)}"
        )
    return value


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        limit = f"a non-empty text of at most {MAX_NAME_LENGTH} characters"
        raise ValueError(f"the project name must be {limit}, not {_show(name)}")


def _check_description(description: Any) -> None:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        limit = f"a text of at most {MAX_DESCRIPTION_LENGTH} characters"
        raise ValueError(f"the description must be {limit}, not {_show(description)}")



