"""Regularization layers: dropout of elements, of whole channels, and alpha dropout; all are identities at inference."""

from __future__ import annotations

from collections.abc import Callable

from studio.graph.catalogue import caffe_records, keras_records
from studio.graph.catalogue.base import LayerSpec, Params, Shape, targets
from studio.graph.catalogue.conv import LAYOUTS, need_spatial
from studio.graph.catalogue.keras_records import CF, layer
from studio.graph.catalogue.onnx_records import single
from studio.graph.catalogue.pytorch_records import kw, module
from studio.graph.params import Float, Param

# NOTE: an exported model infers, and every dropout is an identity then: ONNX writes an Identity,
# and Caffe's Dropout (which drops elements, not channels) does nothing in a deploy net either.
_CAFFE = caffe_records.simple("Dropout", "dropout_param", lambda s: [("dropout_ratio", float(s.params["p"]))])


def _p(what: str) -> Param:
    return Float("p", 0.5, f"Probability of zeroing {what}.", min=0.0, max=0.99)


def _same(p: Params, ins: list[Shape | None]) -> list[Shape]:
    return [ins[0]]  # type: ignore[list-item]


def _channels(rank: int, siblings: dict[int, str]) -> Callable[[Params, list[Shape | None]], list[Shape]]:
    def infer(p: Params, ins: list[Shape | None]) -> list[Shape]:
        x = ins[0]
        assert x is not None
        need_spatial(x, rank, siblings)
        return [x]

    return infer


def _channel_keras(rank: int) -> Callable[[keras_records.Site], keras_records.Emitted]:
    def emit(s: keras_records.Site) -> keras_records.Emitted:
        rate = str(s.params["p"])
        if rank == 1:  # layers.SpatialDropout1D is channels-last only: a noise shape of whole channels instead
            return layer(s, "Dropout", rate, kw("noise_shape", (None, int(s.shape[1] or 0), 1)))
        return layer(s, f"SpatialDropout{rank}D", rate, CF)

    return emit


def _channel_dropout(rank: int, siblings: dict[int, str]) -> LayerSpec:
    keras = "Dropout (noise_shape of whole channels)" if rank == 1 else f"layers.SpatialDropout{rank}D"
    return LayerSpec(
        type=f"Dropout{rank}d",
        category="Regularization",
        doc=f"Zeroes whole channels of {LAYOUTS[rank]} input with probability p while training; identity at inference.",
        params=(_p("a channel"),),
        infer=_channels(rank, siblings),
        output_dtype="same",
        targets=targets(f"nn.Dropout{rank}d", keras, "Identity (inference)", "Dropout (identity at inference)"),
        onnx=single("Identity"),
        pytorch=lambda s: module(s, f"nn.Dropout{rank}d", kw("p", s.params["p"])),
        keras=_channel_keras(rank),
        caffe=_CAFFE,
    )


SPECS = (
    LayerSpec(
        type="Dropout",
        category="Regularization",
        doc="Zeroes random elements with probability p while training; identity at inference.",
        params=(_p("an element"),),
        infer=_same,
        output_dtype="same",
        targets=targets("nn.Dropout", "layers.Dropout", "Dropout", "Dropout"),
        onnx=single("Identity"),
        pytorch=lambda s: module(s, "nn.Dropout", kw("p", s.params["p"])),
        keras=lambda s: layer(s, "Dropout", str(s.params["p"])),
        caffe=_CAFFE,
        caffe_import=(caffe_records.CaffeImport("Dropout", "dropout_param", lambda f: {"p": f.number("dropout_ratio", 0.5)}),),
    ),
    _channel_dropout(1, {2: "Dropout2d", 3: "Dropout3d"}),
    _channel_dropout(2, {1: "Dropout1d", 3: "Dropout3d"}),
    _channel_dropout(3, {1: "Dropout1d", 2: "Dropout2d"}),
    LayerSpec(
        type="AlphaDropout",
        category="Regularization",
        doc="Dropout for self-normalizing (SELU) networks: keeps mean and variance while training; identity at inference.",
        params=(_p("an element"),),
        infer=_same,
        output_dtype="same",
        targets=targets("nn.AlphaDropout", "layers.AlphaDropout", "Identity (inference)", "Dropout (identity at inference)"),
        onnx=single("Identity"),
        pytorch=lambda s: module(s, "nn.AlphaDropout", kw("p", s.params["p"])),
        keras=lambda s: layer(s, "AlphaDropout", str(s.params["p"])),
        caffe=_CAFFE,
    ),
)
