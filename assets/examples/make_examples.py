"""Rebuild the example projects from readable Python: `python assets/examples/make_examples.py`."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from collections.abc import Callable
from typing import Any

from studio.graph import Graph
from studio.graph.blocks import BlockLibrary, Exposed
from studio.graph.layout import arrange
from studio.graph.project import Project, TrainingSettings, save_project

HERE = Path(__file__).resolve().parent
EXAMPLE_WIDTH = 1200.0  # long chains wrap into bands of at most 5 layers: readable when opened


class Builder:
    """Adds layers by name, wiring each to the layers named as its inputs (`name:port` for another output than `out`)."""

    def __init__(self, library: BlockLibrary | None = None) -> None:
        self.library = library if library is not None else BlockLibrary()
        self.graph = Graph(library=self.library)

    def block(self, name: str, make: Callable[[Builder], None], description: str, **exposed: Any) -> None:
        """Define a block built by `make`; each keyword exposes a parameter: (default, "layer.param", ...) or (default, "switch", "layer", ...)."""
        inner = Builder(self.library)
        make(inner)
        arrange(inner.graph, max_width=EXAMPLE_WIDTH)
        found = []
        for param, (default, *targets) in exposed.items():
            if targets[0] == "switch":
                found.append(Exposed(param, default, switches=tuple(inner.graph.node_by_name(t).id for t in targets[1:])))
            else:
                binds = tuple((inner.graph.node_by_name(t.split(".")[0]).id, t.split(".")[1]) for t in targets)
                found.append(Exposed(param, default, binds=binds))
        self.library.define(name, inner.graph, tuple(found), description)

    def __call__(self, layer_type: str, name: str, *inputs: str, **params: Any) -> str:
        node = self.graph.add_node(layer_type, name, params)
        ports = node.spec.input_ports(node.params)
        for port, source in zip(ports, inputs, strict=True):
            layer, _, output = source.partition(":")
            self.graph.connect(self.graph.node_by_name(layer).id, output or "out", node.id, port.name)
        return name


def digits_cnn(b: Builder) -> None:
    b("Input", "image", shape=[1, 8, 8])
    b("Conv2d", "conv1", "image", out_channels=16, kernel_size=3, padding="same")
    b("ReLU", "relu1", "conv1")
    b("Conv2d", "conv2", "relu1", out_channels=32, kernel_size=3, padding="same")
    b("ReLU", "relu2", "conv2")
    b("MaxPool2d", "pool", "relu2", kernel_size=2)
    b("Flatten", "flatten", "pool")
    b("Linear", "fc1", "flatten", out_features=64)
    b("ReLU", "relu3", "fc1")
    b("Dropout", "dropout", "relu3", p=0.25)
    b("Linear", "logits", "dropout", out_features=10)
    b("Output", "digit", "logits")


def lenet5(b: Builder) -> None:
    b("Input", "image", shape=[1, 28, 28])
    b("Conv2d", "c1", "image", out_channels=6, kernel_size=5, padding=2)
    b("Tanh", "tanh1", "c1")
    b("AvgPool2d", "s2", "tanh1", kernel_size=2)
    b("Conv2d", "c3", "s2", out_channels=16, kernel_size=5)
    b("Tanh", "tanh2", "c3")
    b("AvgPool2d", "s4", "tanh2", kernel_size=2)
    b("Flatten", "flatten", "s4")
    b("Linear", "f5", "flatten", out_features=120)
    b("Tanh", "tanh3", "f5")
    b("Linear", "f6", "tanh3", out_features=84)
    b("Tanh", "tanh4", "f6")
    b("Linear", "f7", "tanh4", out_features=10)
    b("Output", "digit", "f7")


def mlp(b: Builder) -> None:
    b("Input", "point", shape=[2])
    b("Linear", "hidden1", "point", out_features=64)
    b("ReLU", "relu1", "hidden1")
    b("Linear", "hidden2", "relu1", out_features=64)
    b("ReLU", "relu2", "hidden2")
    b("Linear", "logits", "relu2", out_features=2)
    b("Output", "label", "logits")


def _residual_block(b: Builder, name: str, source: str, channels: int, stride: int = 1) -> str:
    b("Conv2d", f"{name}_conv1", source, out_channels=channels, kernel_size=3, stride=stride, padding=1, bias=False)
    b("BatchNorm2d", f"{name}_bn1", f"{name}_conv1")
    b("ReLU", f"{name}_relu1", f"{name}_bn1")
    b("Conv2d", f"{name}_conv2", f"{name}_relu1", out_channels=channels, kernel_size=3, padding=1, bias=False)
    b("BatchNorm2d", f"{name}_bn2", f"{name}_conv2")
    skip = source
    if stride != 1:
        b("Conv2d", f"{name}_proj", source, out_channels=channels, kernel_size=1, stride=stride, bias=False)
        skip = b("BatchNorm2d", f"{name}_proj_bn", f"{name}_proj")
    b("Add", f"{name}_add", f"{name}_bn2", skip)
    return b("ReLU", f"{name}_out", f"{name}_add")


def resnet_small(b: Builder) -> None:
    b("Input", "image", shape=[3, 32, 32])
    b("Conv2d", "stem", "image", out_channels=16, kernel_size=3, padding=1, bias=False)
    b("BatchNorm2d", "stem_bn", "stem")
    x = b("ReLU", "stem_relu", "stem_bn")
    x = _residual_block(b, "block1", x, 16)
    x = _residual_block(b, "block2", x, 32, stride=2)
    x = _residual_block(b, "block3", x, 64, stride=2)
    b("GlobalAvgPool2d", "pool", x)
    b("Linear", "logits", "pool", out_features=10)
    b("Output", "label", "logits")


def inception_block(b: Builder) -> None:
    b("Input", "image", shape=[3, 32, 32])
    b("Conv2d", "stem", "image", out_channels=32, kernel_size=3, padding=1)
    b("ReLU", "stem_relu", "stem")
    b("Conv2d", "b1_1x1", "stem_relu", out_channels=16, kernel_size=1)
    b("Conv2d", "b2_reduce", "stem_relu", out_channels=16, kernel_size=1)
    b("Conv2d", "b2_3x3", "b2_reduce", out_channels=24, kernel_size=3, padding=1)
    b("Conv2d", "b3_reduce", "stem_relu", out_channels=4, kernel_size=1)
    b("Conv2d", "b3_5x5", "b3_reduce", out_channels=8, kernel_size=5, padding=2)
    b("MaxPool2d", "b4_pool", "stem_relu", kernel_size=3, stride=1, padding=1)
    b("Conv2d", "b4_proj", "b4_pool", out_channels=8, kernel_size=1)
    b("Concat", "mixed", "b1_1x1", "b2_3x3", "b3_5x5", "b4_proj", num_inputs=4)
    b("ReLU", "mixed_relu", "mixed")
    b("GlobalAvgPool2d", "pool", "mixed_relu")
    b("Linear", "logits", "pool", out_features=10)
    b("Output", "label", "logits")


def lstm_classifier(b: Builder) -> None:
    b("Input", "tokens", shape=[32], dtype="int64")
    b("Embedding", "embed", "tokens", num_embeddings=64, embedding_dim=32)
    b("LSTM", "lstm", "embed", hidden_size=64, bidirectional=True)
    b("Dropout", "dropout", "lstm:hidden", p=0.2)
    b("Linear", "logits", "dropout", out_features=2)
    b("Output", "label", "logits")


def transformer_classifier(b: Builder) -> None:
    b("Input", "tokens", shape=[32], dtype="int64")
    b("Embedding", "embed", "tokens", num_embeddings=64, embedding_dim=64)
    b("PositionalEncoding", "position", "embed", max_len=512)
    b("TransformerEncoderLayer", "encoder1", "position", nhead=4, dim_feedforward=128, dropout=0.1)
    b("TransformerEncoderLayer", "encoder2", "encoder1", nhead=4, dim_feedforward=128, dropout=0.1)
    b("SequencePool", "pool", "encoder2", mode="mean")
    b("Linear", "logits", "pool", out_features=2)
    b("Output", "label", "logits")


def conv_autoencoder(b: Builder) -> None:
    b("Input", "image", shape=[1, 28, 28])
    b("Conv2d", "enc1", "image", out_channels=16, kernel_size=3, stride=2, padding=1)
    b("ReLU", "enc1_relu", "enc1")
    b("Conv2d", "enc2", "enc1_relu", out_channels=32, kernel_size=3, stride=2, padding=1)
    b("ReLU", "code", "enc2")
    b("ConvTranspose2d", "dec1", "code", out_channels=16, kernel_size=3, stride=2, padding=1, output_padding=1)
    b("ReLU", "dec1_relu", "dec1")
    b("ConvTranspose2d", "dec2", "dec1_relu", out_channels=1, kernel_size=3, stride=2, padding=1, output_padding=1)
    b("Sigmoid", "reconstruction", "dec2")
    b("Output", "image_out", "reconstruction")


def _inverted_residual(b: Builder, name: str, source: str, channels: int, expand: int) -> str:
    """MobileNetV3's block: expand, depthwise, squeeze-and-excitation gate, project, residual."""
    wide = channels * expand
    b("Conv2d", f"{name}_expand", source, out_channels=wide, kernel_size=1, bias=False)
    b("BatchNorm2d", f"{name}_expand_bn", f"{name}_expand")
    b("Hardswish", f"{name}_expand_act", f"{name}_expand_bn")
    b("DepthwiseConv2d", f"{name}_depthwise", f"{name}_expand_act", kernel_size=3, padding=1, bias=False)
    b("BatchNorm2d", f"{name}_depthwise_bn", f"{name}_depthwise")
    features = b("Hardswish", f"{name}_depthwise_act", f"{name}_depthwise_bn")
    b("GlobalAvgPool2d", f"{name}_squeeze", features)
    b("Linear", f"{name}_reduce", f"{name}_squeeze", out_features=wide // 4)
    b("ReLU", f"{name}_reduce_act", f"{name}_reduce")
    b("Linear", f"{name}_excite", f"{name}_reduce_act", out_features=wide)
    b("Hardsigmoid", f"{name}_gate", f"{name}_excite")
    b("Reshape", f"{name}_gate_map", f"{name}_gate", shape=[wide, 1, 1])
    b("Multiply", f"{name}_gated", features, f"{name}_gate_map")  # (N, C, H, W) times (N, C, 1, 1)
    b("Conv2d", f"{name}_project", f"{name}_gated", out_channels=channels, kernel_size=1, bias=False)
    b("BatchNorm2d", f"{name}_project_bn", f"{name}_project")
    return b("Add", f"{name}_out", source, f"{name}_project_bn")


def se_mobilenet(b: Builder) -> None:
    b("Input", "image", shape=[3, 32, 32])
    b("Conv2d", "stem", "image", out_channels=16, kernel_size=3, stride=2, padding=1, bias=False)
    b("BatchNorm2d", "stem_bn", "stem")
    x = b("Hardswish", "stem_act", "stem_bn")
    x = _inverted_residual(b, "block1", x, 16, expand=4)
    x = _inverted_residual(b, "block2", x, 16, expand=4)
    b("GlobalAvgPool2d", "pool", x)
    b("Linear", "logits", "pool", out_features=10)
    b("Output", "label", "logits")


def vit_tiny(b: Builder) -> None:
    b("Input", "image", shape=[1, 16, 16])
    b("Conv2d", "patches", "image", out_channels=32, kernel_size=4, stride=4)  # 16 patches of 4x4 pixels
    b("Reshape", "patch_grid", "patches", shape=[32, 16])
    b("Permute", "patch_tokens", "patch_grid", dims=[2, 1])  # (N, 16 tokens, 32 features)
    b("Parameter", "class_token", shape=[1, 32])
    b("Concat", "tokens", "class_token", "patch_tokens", dim=1)  # the class token, broadcast over the batch
    b("Parameter", "positions", shape=[17, 32])
    b("Add", "embedded", "tokens", "positions")
    block = dict(nhead=4, dim_feedforward=64, dropout=0.0, activation="gelu", norm_first=True)
    b("TransformerEncoderLayer", "encoder1", "embedded", **block)
    b("TransformerEncoderLayer", "encoder2", "encoder1", **block)
    b("LayerNorm", "final_norm", "encoder2")
    b("SequencePool", "class_output", "final_norm", mode="first")
    b("Linear", "logits", "class_output", out_features=10)
    b("Output", "label", "logits")


def gpt_tiny(b: Builder) -> None:
    b("Input", "tokens", shape=[64], dtype="int64")  # 64 characters of text
    b("Embedding", "embed", "tokens", num_embeddings=64, embedding_dim=64)  # the text's 64 distinct characters
    b("Parameter", "positions", shape=[64, 64])
    b("Add", "embedded", "embed", "positions")  # a learned position table, broadcast over the batch
    block = dict(nhead=4, dim_feedforward=256, dropout=0.1, activation="gelu", norm_first=True, causal=True)
    b("TransformerEncoderLayer", "block1", "embedded", **block)  # causal: each position sees only those before it
    b("TransformerEncoderLayer", "block2", "block1", **block)
    b("TransformerEncoderLayer", "block3", "block2", **block)
    b("LayerNorm", "final_norm", "block3")
    b("Linear", "next_char", "final_norm", out_features=64)  # scores of the next character at every position
    b("Output", "scores", "next_char")


def _basic_block(b: Builder) -> None:
    """torchvision's BasicBlock: two 3x3 convolutions with batch norm; a 1x1 shortcut where the block downsamples."""
    b("Input", "x", shape=[64, 56, 56])
    b("Conv2d", "conv1", "x", out_channels=64, kernel_size=3, padding=1, bias=False)
    b("BatchNorm2d", "bn1", "conv1")
    b("ReLU", "relu", "bn1")
    b("Conv2d", "conv2", "relu", out_channels=64, kernel_size=3, padding=1, bias=False)
    b("BatchNorm2d", "bn2", "conv2")
    b("Conv2d", "downsample_conv", "x", out_channels=64, kernel_size=1, bias=False)
    b("BatchNorm2d", "downsample_bn", "downsample_conv")
    b("Add", "residual", "bn2", "downsample_bn")
    b("ReLU", "relu_out", "residual")
    b("Output", "y", "relu_out")


def resnet18_blocks(b: Builder) -> None:
    b.block(
        "BasicBlock", _basic_block, "Two 3x3 convolutions and a shortcut; downsample switches on a 1x1 convolution for the shortcut.",
        channels=(64, "conv1.out_channels", "conv2.out_channels", "downsample_conv.out_channels"),
        stride=((1, 1), "conv1.stride", "downsample_conv.stride"),
        downsample=(False, "switch", "downsample_conv", "downsample_bn"),
    )  # fmt: skip
    b("Input", "image", shape=[3, 224, 224])
    b("Conv2d", "conv1", "image", out_channels=64, kernel_size=7, stride=2, padding=3, bias=False)
    b("BatchNorm2d", "bn1", "conv1")
    b("ReLU", "relu", "bn1")
    x = b("MaxPool2d", "maxpool", "relu", kernel_size=3, stride=2, padding=1)
    for stage, channels in enumerate((64, 128, 256, 512), 1):
        first = {"channels": channels} if stage == 1 else {"channels": channels, "stride": 2, "downsample": True}
        x = b("BasicBlock", f"layer{stage}_0", x, **first)
        x = b("BasicBlock", f"layer{stage}_1", x, channels=channels)
    b("GlobalAvgPool2d", "avgpool", x)
    b("Linear", "fc", "avgpool", out_features=1000)
    b("Output", "logits", "fc")


def _encoder_block(b: Builder) -> None:
    """BERT's encoder layer (post-norm): self-attention, add and norm, a GELU feed-forward, add and norm."""
    b("Input", "x", shape=[128, 256])
    b("MultiheadAttention", "attention", "x", "x", "x", num_heads=4)
    b("Add", "attention_residual", "attention", "x")
    b("LayerNorm", "attention_norm", "attention_residual", eps=1e-12)
    b("Linear", "intermediate", "attention_norm", out_features=1024)
    b("GELU", "gelu", "intermediate")
    b("Linear", "output", "gelu", out_features=256)
    b("Add", "output_residual", "output", "attention_norm")
    b("LayerNorm", "output_norm", "output_residual", eps=1e-12)
    b("Output", "y", "output_norm")


def bert_mini_blocks(b: Builder) -> None:
    b.block(
        "EncoderLayer", _encoder_block, "One BERT encoder layer; the network repeats it.",
        heads=(4, "attention.num_heads"), intermediate=(1024, "intermediate.out_features"),
    )  # fmt: skip
    b("Input", "tokens", shape=[128], dtype="int64")
    b("Embedding", "word_embeddings", "tokens", num_embeddings=30522, embedding_dim=256)
    b("Parameter", "position_embeddings", shape=[512, 256])  # BERT's whole table; the first 128 rows are read
    b("IndexSelect", "positions", "position_embeddings", dim=1, indices=list(range(128)))
    b("Parameter", "token_type_embeddings", shape=[2, 256])
    b("IndexSelect", "token_type", "token_type_embeddings", dim=1, indices=[0])  # one segment: type 0
    b("Add", "embedded", "word_embeddings", "positions", "token_type", num_inputs=3)
    b("LayerNorm", "embedding_norm", "embedded", eps=1e-12)
    b("EncoderLayer", "encoder", "embedding_norm", repeat=4)
    b("SequencePool", "first_token", "encoder", mode="first")
    b("Linear", "pooler", "first_token", out_features=256)
    b("Tanh", "pooler_activation", "pooler")
    b("Linear", "classifier", "pooler_activation", out_features=2)
    b("Output", "label", "classifier")


RESNET18_BLOCKS = (
    "torchvision's ResNet-18 (11,689,512 parameters) from one BasicBlock block used by 8 instances; "
    "its head has ImageNet's 1000 classes: set fc's out_features to 10 to train it on the built-in digits."
)
BERT_MINI_BLOCKS = "BERT-mini (4 layers, width 256, 4 heads) as one encoder-layer block repeated 4 times, classifying token sequences."
GPT_TINY = "A tiny GPT: a causal transformer decoder that learns to write like Alice's Adventures in Wonderland, one character at a time."

EXAMPLES = {
    "digits_cnn": (digits_cnn, "A small CNN for the built-in 8x8 handwritten digits.", dict(dataset="digits", epochs=20)),
    "lenet5": (lenet5, "LeCun et al.'s LeNet-5 for 28x28 digits (MNIST; trains on the built-in digits, resized).", dict(dataset="digits", epochs=10)),
    "mlp": (mlp, "A multilayer perceptron for two-dimensional points (the two-spirals set).", dict(dataset="spirals", epochs=200, batch_size=32)),
    "resnet_small": (resnet_small, "A small residual network (ResNet-style blocks with Add) for 32x32 colour images.", dict(dataset="digits", optimizer="sgd", learning_rate=0.05, schedule="cosine")),
    "inception_block": (inception_block, "An inception-style block: four parallel branches joined by Concat.", dict(dataset="digits")),
    "lstm_classifier": (lstm_classifier, "A bidirectional LSTM that classifies token sequences by its final hidden state.", dict(dataset="sequence")),
    "transformer_classifier": (transformer_classifier, "A two-layer transformer encoder that classifies token sequences.", dict(dataset="sequence", learning_rate=0.0005)),
    "se_mobilenet": (se_mobilenet, "MobileNetV3-style blocks whose squeeze-and-excitation gates broadcast over each feature map.", dict(dataset="digits", epochs=15, learning_rate=0.003)),
    "vit_tiny": (vit_tiny, "A tiny vision transformer: patch embedding, a learned class token and position table, two encoder blocks.", dict(dataset="digits", epochs=30, learning_rate=0.002)),
    "gpt_tiny": (gpt_tiny, GPT_TINY, dict(dataset="alice", epochs=30, batch_size=32, learning_rate=0.002, schedule="cosine", grad_clip=1.0, validation_split=0.1)),
    "resnet18_blocks": (resnet18_blocks, RESNET18_BLOCKS, dict(dataset="digits", epochs=5, optimizer="sgd", learning_rate=0.05)),
    "bert_mini_blocks": (bert_mini_blocks, BERT_MINI_BLOCKS, dict(dataset="sequence", epochs=5, learning_rate=0.0001)),
    "conv_autoencoder": (conv_autoencoder, "A convolutional autoencoder that reconstructs 28x28 images (ConvTranspose2d decoder).", dict(dataset="digits", target="input", loss="mse")),
}


def build(name: str) -> Project:
    """Build one example project by name."""
    make, description, training = EXAMPLES[name]
    builder = Builder()
    make(builder)
    arrange(builder.graph, max_width=EXAMPLE_WIDTH)
    return Project(name=name, graph=builder.graph, description=description, training=replace(TrainingSettings(), **training))


def main() -> int:
    for name in EXAMPLES:
        save_project(build(name), HERE / f"{name}.lstudio")
        print(f"wrote {name}.lstudio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
