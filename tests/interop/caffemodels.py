"""Writing .caffemodel files in tests: a small protobuf encoder of NetParameter's layers and blobs."""

from __future__ import annotations

import numpy as np


# ----- a protobuf encoder for NetParameter { layer { name blobs { shape data } } } -----
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def blob(array: np.ndarray, legacy: bool = False, double: bool = False) -> bytes:
    if legacy:  # num, channels, height, width as varints
        dims = (1,) * (4 - array.ndim) + array.shape
        head = b"".join(varint(i << 3) + varint(d) for i, d in zip((1, 2, 3, 4), dims))
    else:
        head = field(7, field(1, b"".join(varint(d) for d in array.shape)))
    data = array.astype("<f8" if double else "<f4").tobytes()
    return head + field(8 if double else 5, data)


def layer(name: str, arrays: list[np.ndarray], **options: bool) -> bytes:
    body = (
        field(1, name.encode())
        + field(2, b"Layer")
        + b"".join(field(7, blob(a, **options)) for a in arrays)
    )
    return field(100, body)


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return (
        np.random.default_rng(seed + sum(shape))
        .standard_normal(shape)
        .astype(np.float32)
    )


# A net whose every weighted layer kind has a sink: statistics, Scale, PReLU, transposed InnerProduct.
BN_NET = """input: "x" input_shape { dim: 1 dim: 3 dim: 4 dim: 4 }
layer { name: "conv" type: "Convolution" bottom: "x" top: "conv" convolution_param { num_output: 4 kernel_size: 1 bias_term: false } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" batch_norm_param { eps: 0.001 } }
layer { name: "scale" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "prelu" type: "PReLU" bottom: "conv" top: "conv" }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc" inner_product_param { num_output: 3 transpose: true } }
"""
