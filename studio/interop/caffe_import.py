"""Caffe nets (.prototxt, optionally with .caffemodel weights beside them) to editable projects.

The TEST (deploy) view of the net is imported: a layer whose `include`/`exclude` rules leave it
out of Caffe's TEST phase (no stages, level 0) is dropped, as Caffe drops it. Data layers
become Inputs (with the shape the file states, else a placeholder and a warning naming it);
loss layers set the project's loss, and the blob they read becomes an Output (the logits);
Accuracy layers and Silence are dropped. Every unmapped layer is reported at once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from studio.graph.bulk import collector_paused
from studio.graph.catalogue import get_spec
from studio.graph.project import Project, TrainingSettings
from studio.graph.regular_files import read_or_refuse
from studio.graph.weights_file import node_key
from studio.interop.caffe_builder import Blob, BrokenLayer, Builder, Layer, Unknown
from studio.interop.caffe_layers import mapping
from studio.interop.common import (
    MAX_LISTED,
    ImportedModel,
    ModelImportError,
    Unmappable,
    lay_out,
    project_name,
    unsupported_error,
)
from studio.interop.prototxt import MAX_CHARS, Message, PrototxtError, parse

LOSSES = {
    "SoftmaxWithLoss": "cross_entropy",
    "EuclideanLoss": "mse",
    "SigmoidCrossEntropyLoss": "bce_with_logits",
}
OTHER_LOSSES = (
    "MultinomialLogisticLoss",
    "InfogainLoss",
    "HingeLoss",
    "ContrastiveLoss",
)
DATA_LAYERS = (
    "Data",
    "ImageData",
    "MemoryData",
    "HDF5Data",
    "WindowData",
    "DummyData",
    "AnnotatedData",
)
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}  # fmt: skip
PHASES = {"TRAIN": "TRAIN", "TEST": "TEST", "0": "TRAIN", "1": "TEST"}


@collector_paused()
def import_caffe(path: Path, weights: Path | None = None) -> ImportedModel:
    """Import a Caffe prototxt (and the .caffemodel beside it, or `weights`) as a laid-out project.

    Raises:
        UnsupportedLayersError: layers with no mapping (every one listed: type, count, first name).
        ModelImportError: the file cannot be read, is not a valid net, or its weights do not fit.
    """
    path = Path(path)
    net = _read_net(path)
    builder, training, notes = _Importer(str(path)).build(net)
    lay_out(builder.graph)
    warnings = builder.warnings + notes
    weights_file = weights or _weights_beside(path, warnings)
    project = Project(project_name(path), builder.graph, training)
    state: dict = {}
    if weights_file is not None:
        state = _load_weights(project, builder, weights_file, warnings)
    project.description = _description(path, net, warnings)
    return ImportedModel(project, state, warnings)


def _read_net(path: Path) -> Message:
    data = read_or_refuse(path, MAX_CHARS, ModelImportError, lambda size: f"is {size / 2**20:.1f} MiB, more than a net definition may be ({MAX_CHARS // 2**20} MiB)")
    try:
        return parse(data)
    except PrototxtError as err:
        raise ModelImportError(f"{path}: {err}") from None


def _description(path: Path, net: Message, warnings: list[str]) -> str:
    try:
        name = net.text("name", "") or ""
    except PrototxtError:
        name = ""
    text = (
        f"Imported from the Caffe net {path.name}"
        + (f" ({name})" if name else "")
        + "."
    )
    if warnings:
        text += "\n\nImport notes:\n" + "\n".join(f"- {w}" for w in warnings)
    return text[:100_000]


class _Importer:
    """One import: walks the net's layers in order, mapping each and collecting every problem."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.b = Builder()
        self.unmapped: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.left_out: list[str] = []
        self.batch_sizes: dict[str, int] = {}
        self.labels: set[str] = set()
        self.silenced: set[str] = set()  # blobs a Silence layer consumes

    def build(self, net: Message) -> tuple[Builder, TrainingSettings, list[str]]:
        try:
            layers = self._layers(net)
            self._header_inputs(net)
        except PrototxtError as err:
            raise ModelImportError(f"{self.source}: {err}") from None
        for msg in layers:
            self._layer(msg)
        if self.errors:
            listed = self.errors[:MAX_LISTED] + (
                [f"... and {len(self.errors) - MAX_LISTED} more"]
                if len(self.errors) > MAX_LISTED
                else []
            )
            unmapped = sorted({kind for kind, _ in self.unmapped})
            also = (
                [f"(also with no mapping: {', '.join(unmapped)})"] if unmapped else []
            )
            raise ModelImportError(
                f"{self.source}: this net cannot be imported:\n  "
                + "\n  ".join(listed + also)
            )
        if self.unmapped:
            raise unsupported_error(self.source, "layer", self.unmapped)
        if not self.b.graph.nodes:
            raise ModelImportError(
                f"{self.source}: holds no layers and no inputs (is it a solver or another kind of prototxt?)"
            )
        self._outputs()
        notes = []
        if self.left_out:
            shown = ", ".join(repr(n) for n in self.left_out[:3]) + (
                ", ..." if len(self.left_out) > 3 else ""
            )
            notes.append(
                f"imported the TEST phase: {len(self.left_out)} TRAIN-only layer(s) left out ({shown})"
            )
        return self.b, self._training(), notes

    # ----- the net's layers -----
    def _layers(self, net: Message) -> list[Message]:
        layers, old = net.children("layer"), net.children("layers")
        if layers and old:
            raise ModelImportError(
                f"{self.source}: uses both 'layer' and the old 'layers'; Caffe refuses such a net"
            )
        return layers or old

    def _layer(self, msg: Message) -> None:
        name, kind = "?", "?"
        try:
            name = msg.text("name", "") or f"layer at line {msg.line}"
            kind = _layer_type(msg)
            if not kind:
                raise BrokenLayer("it has no type")
            if not _in_test_phase(msg):
                self.left_out.append(name)
                self._note_batch_size(msg, kind, "TRAIN")
                return
            self._map(msg, name, kind)
        except PrototxtError as err:
            self.errors.append(f"layer {name!r} ({kind}): {err}")
            self._fail_tops(msg)
        except BrokenLayer as err:
            self.errors.append(f"layer {name!r} ({kind}), line {msg.line}: {err}")
            self._fail_tops(msg)
        except Unmappable as err:
            self.unmapped.append((err.kind, name))
            self._fail_tops(msg)
        except Unknown:
            self._fail_tops(msg)

    def _fail_tops(self, msg: Message) -> None:
        """Stand-ins for the tops of a layer that failed, so later layers are still checked."""
        try:
            tops = msg.texts("top")
        except PrototxtError:
            return
        for top in tops:
            stand_in = self.b.graph.add_node(
                "Identity", self.b.names.take(f"{top} (failed)")
            )
            self.b.write(top, Blob(stand_in.id, None, guessed=True, failed=True))

    def _map(self, msg: Message, name: str, kind: str) -> None:
        tops = msg.texts("top")
        bottom_names = msg.texts("bottom")
        if kind == "Input":
            self._input_layer(msg, name, tops)
            return
        if kind in DATA_LAYERS or (kind == "Python" and not bottom_names):
            self._note_batch_size(msg, kind, "TEST")
            self._data_layer(msg, name, kind, tops)
            return
        bottoms = [self._bottom(b) for b in bottom_names]
        if kind in LOSSES or kind in OTHER_LOSSES or kind == "Accuracy":
            if kind != "Accuracy":
                self.b.losses.append((kind, name))
            for label in bottom_names[1:]:  # the prediction stays an output: the logits
                self.b.read(label)
                self.labels.add(label)
            return
        for bottom in bottom_names:
            self.b.read(bottom)
        if kind == "Silence":
            self.silenced.update(bottom_names)
            return
        mapper = mapping(kind)
        if mapper is None:
            raise Unmappable(kind)
        if any(b.label_of for b in bottoms):
            raise Unmappable(f"{kind} reading a data layer's labels")
        results = mapper(self.b, Layer(msg, name, kind, bottoms, tops))
        for top, blob in zip(tops, results):
            self.b.write(top, blob)

    def _bottom(self, name: str) -> Blob:
        blob = self.b.blobs.get(name)
        if blob is None:
            raise BrokenLayer(
                f"its bottom {name!r} is not written by any layer before it"
            )
        return blob

    # ----- inputs -----
    def _header_inputs(self, net: Message) -> None:
        names = net.texts("input")
        shapes = [s.integers("dim") for s in net.children("input_shape")]
        dims = net.integers("input_dim")
        if not names:
            if shapes or dims:
                raise ModelImportError(
                    f"{self.source}: gives input shapes but no 'input' names"
                )
            return
        if not shapes and dims:
            if len(dims) != 4 * len(names):
                raise ModelImportError(
                    f"{self.source}: has {len(dims)} input_dim values for {len(names)} inputs (4 each)"
                )
            shapes = [dims[4 * i : 4 * i + 4] for i in range(len(names))]
        if len(shapes) != len(names):
            raise ModelImportError(
                f"{self.source}: has {len(names)} inputs but {len(shapes)} input shapes"
            )
        for name, shape in zip(names, shapes):
            try:
                self._add_input(name, name, shape, "input")
            except (BrokenLayer, Unmappable) as err:
                raise ModelImportError(f"{self.source}: {err}") from None

    def _input_layer(self, msg: Message, name: str, tops: list[str]) -> None:
        shapes = [
            s.integers("dim")
            for s in (msg.child("input_param") or Message()).children("shape")
        ]
        if len(shapes) not in (1, len(tops)) or not tops:
            raise BrokenLayer(f"has {len(tops)} tops but {len(shapes)} shapes")
        for i, top in enumerate(tops):
            self._add_input(
                top if len(tops) > 1 else name,
                top,
                shapes[i if len(shapes) > 1 else 0],
                "Input",
            )

    def _add_input(self, node_name: str, top: str, dims: list[int], kind: str) -> None:
        if len(dims) < 2 or any(d < 1 for d in dims):
            raise BrokenLayer(
                f"input {top!r} has shape {tuple(dims)}: give the batch and at least one more size, all positive"
            )
        try:
            blob = self.b.add("Input", node_name, {"shape": tuple(dims[1:])}, [], kind)
        except Unmappable as err:
            raise BrokenLayer(
                f"input {top!r} has shape {tuple(dims)}: {err.kind}"
            ) from None
        self.b.write(top, blob)

    def _data_layer(self, msg: Message, name: str, kind: str, tops: list[str]) -> None:
        if not tops:
            raise BrokenLayer("a data layer needs a top")
        shape, stated = _data_shape(msg, kind)
        params = {"shape": shape} if shape else {}
        blob = self.b.add("Input", name, params, [], kind)
        node = self.b.graph.node(blob.node or "")
        blob.guessed = not stated
        self.b.write(tops[0], blob)
        for top in tops[1:]:
            self.b.write(top, Blob(None, None, label_of=name))
        source = _data_source(msg)
        read = (
            f"; it read {source!r}, so choose the project's dataset" if source else ""
        )
        if stated:
            self.b.warnings.append(
                f"{kind} layer {name!r} became the Input {node.name!r} with shape {node.params['shape']}{read}"
            )
        else:
            self.b.warnings.append(
                f"{kind} layer {name!r} became the Input {node.name!r} with a placeholder shape {node.params['shape']}, "
                f"since the file does not say what one sample holds: set its shape (C, H, W){read}"
            )

    def _note_batch_size(self, msg: Message, kind: str, phase: str) -> None:
        if kind not in DATA_LAYERS:
            return
        for param in (
            "data_param",
            "image_data_param",
            "memory_data_param",
            "hdf5_data_param",
            "window_data_param",
        ):
            child = msg.child(param)
            if child is not None and child.has("batch_size"):
                size = child.integer("batch_size")
                if size is not None and 1 <= size <= 1_000_000:
                    self.batch_sizes.setdefault(phase, size)

    # ----- outputs and training -----
    def _outputs(self) -> None:
        """An Output for each blob no layer reads (Caffe's net outputs; a loss's prediction is one).

        An input that only feeds labels to loss layers is left out: the dataset supplies labels.
        """
        graph = self.b.graph
        for label in self.labels:
            blob = self.b.blobs[label]
            if (
                blob.node is not None
                and graph.node(blob.node).type == "Input"
                and not graph.out_edges(blob.node)
            ):
                graph.remove_node(blob.node)
                self.b.warnings.append(
                    f"the input {label!r} only held labels for the loss: the project's dataset supplies them"
                )
        for name in self.silenced:  # a Slice piece kept only to be silenced is left out
            node_id = self.b.blobs[name].node
            if node_id in graph and graph.node(node_id).type == "Slice" and not graph.out_edges(node_id):
                graph.remove_node(node_id)
        done: set[str] = set()
        for top, blob in self.b.unread.items():
            if blob.node is None or blob.node in done or blob.node not in graph:
                continue
            done.add(blob.node)
            name = top if graph.node_by_name(top) is None else f"{top}_output"
            output = graph.add_node("Output", self.b.names.take(name))
            graph.connect(blob.node, "out", output.id, "in")
            node = graph.node(blob.node)
            if node.type == "Softmax" and not self.b.losses:
                feeder = graph.node(graph.in_edges(node.id)[0].src)
                self.b.warnings.append(
                    f"the net ends in Softmax {node.name!r}: keep it to predict probabilities, but train "
                    f"without it (feed the Output from {feeder.name!r}), since the cross_entropy loss "
                    "expects logits"
                )

    def _training(self) -> TrainingSettings:
        settings = TrainingSettings()
        losses = [LOSSES[kind] for kind, _ in self.b.losses if kind in LOSSES]
        for kind, name in self.b.losses:
            if kind not in LOSSES:
                self.b.warnings.append(
                    f"{kind} layer {name!r} has no matching training loss; the project keeps {settings.loss}"
                )
        if losses:
            settings = replace(settings, loss=losses[-1])
            if len(self.b.losses) > 1:
                names = ", ".join(repr(n) for _, n in self.b.losses)
                self.b.warnings.append(
                    f"the net has {len(self.b.losses)} loss layers ({names}); the project trains with {losses[-1]}"
                )
        size = self.batch_sizes.get("TRAIN") or self.batch_sizes.get("TEST")
        if size:
            settings = replace(settings, batch_size=size)
        return settings


def _layer_type(msg: Message) -> str:
    """The layer's type name; an old V1 `layers` entry's enum (CONVOLUTION) becomes today's name."""
    found = msg.last("type")
    if found is None:
        return ""
    if not isinstance(found.value, str):
        raise PrototxtError(
            "'type' must be a layer type such as \"Convolution\"",
            found.line,
            found.column,
        )
    return V1_TYPES.get(found.value, found.value)


def _in_test_phase(msg: Message) -> bool:
    """Whether Caffe's TEST phase (level 0, no stages) keeps this layer (NetStateRule semantics)."""
    include, exclude = msg.children("include"), msg.children("exclude")
    if include:
        return any(_meets(rule) for rule in include)
    return not any(_meets(rule) for rule in exclude)


def _meets(rule: Message) -> bool:
    phase = rule.enum("phase")
    if phase is not None and PHASES.get(phase) != "TEST":
        return False
    if (rule.integer("min_level", 0) or 0) > 0 or (
        rule.integer("max_level", 0) or 0
    ) < 0:
        return False
    return not rule.texts("stage")


def _data_shape(msg: Message, kind: str) -> tuple[tuple[int, ...] | None, bool]:
    """The (C, H, W) a data layer's settings state, and whether they state all of it."""
    transform = msg.child("transform_param") or Message()
    crop = transform.integer("crop_size", 0) or 0
    if kind == "MemoryData":
        p = msg.child("memory_data_param") or Message()
        dims = tuple(p.integer(k, 0) or 0 for k in ("channels", "height", "width"))
        if all(d > 0 for d in dims):
            return (dims[0], crop, crop) if crop else dims, True
    if kind == "DummyData":
        p = msg.child("dummy_data_param") or Message()
        shapes = p.children("shape")
        if shapes:
            dims = tuple(shapes[0].integers("dim"))
        else:
            dims = tuple(
                values[0]
                for values in (
                    p.integers(k) for k in ("num", "channels", "height", "width")
                )
                if values
            )
        if len(dims) >= 2 and all(d > 0 for d in dims):
            return dims[1:], True
    if kind == "ImageData":
        p = msg.child("image_data_param") or Message()
        channels = 3 if p.flag("is_color", True) else 1
        height, width = (
            (crop, crop)
            if crop
            else (p.integer("new_height", 0) or 0, p.integer("new_width", 0) or 0)
        )
        if height > 0 and width > 0:
            return (channels, height, width), True
    if crop:
        return (3, crop, crop), False
    default = get_spec("Input").defaults()["shape"]
    return default, False


def _data_source(msg: Message) -> str:
    for param in (
        "data_param",
        "image_data_param",
        "hdf5_data_param",
        "window_data_param",
    ):
        child = msg.child(param)
        if child is not None and child.has("source"):
            return child.text("source", "") or ""
    return ""


def _weights_beside(path: Path, warnings: list[str]) -> Path | None:
    same = path.with_suffix(".caffemodel")
    if same.exists():
        return same  # a FIFO or a device of that name is refused when read, not passed over
    try:
        found = sorted(p for p in path.parent.glob("*.caffemodel") if p.is_file())
    except OSError:
        return None
    if len(found) == 1:
        warnings.append(
            f"weights read from {found[0].name}, the only .caffemodel beside {path.name}"
        )
        return found[0]
    return None


def _load_weights(
    project: Project, builder: Builder, weights: Path, warnings: list[str]
) -> dict:
    import numpy as np

    from studio.graph.weights_limit import WeightsLimitError, check_network
    from studio.interop.caffe_fillers import fresh_state
    from studio.interop.caffemodel import (
        CaffeModelError,
        caffe_state,
        declared_shapes,
        read_caffemodel,
    )

    try:
        check_network(project.graph)  # the import holds every layer's weights, read or drawn from its filler
    except WeightsLimitError as err:
        raise ModelImportError(f"{weights}: {err}") from None
    blobs = read_caffemodel(weights)
    declared = declared_shapes(project)
    try:
        state, missing = caffe_state(builder.sinks, blobs, declared)
    except CaffeModelError as err:
        raise CaffeModelError(f"{weights}: {err}") from None
    if not missing:
        return state
    if len(missing) == len(builder.sinks):
        raise ModelImportError(
            f"{weights}: holds no weights for any layer of this net (is it another net's weights?)"
        )
    shown = ", ".join(repr(n) for n in missing[:5]) + (
        ", ..." if len(missing) > 5 else ""
    )
    warnings.append(
        f"{weights.name} has no weights for {len(missing)} layer(s) ({shown}): "
        "they start from the fillers the prototxt gives them"
    )
    rng = np.random.default_rng(project.training.seed)
    for name in missing:
        sink = builder.sinks[name]
        try:
            fresh = fresh_state(sink, declared.get(sink.node, {}), rng)
        except ModelImportError as err:
            raise ModelImportError(f"{weights}: layer {name!r}: {err}") from None
        state.update({node_key(sink.node, key): value for key, value in fresh.items()})
    return state
