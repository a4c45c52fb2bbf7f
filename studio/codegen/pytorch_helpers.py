"""The helper classes and functions a generated PyTorch file carries, by name, as the layers ask for them."""

HELPERS: dict[str, str] = {
    "Standardize": '''
class Standardize(nn.Module):
    """Subtracts the training data's mean and divides by its std (constants, not weights)."""

    def __init__(self, mean: list[float], std: list[float], trailing: int) -> None:
        super().__init__()
        shape = (-1,) + (1,) * trailing  # one value per channel (images) or per feature
        self.register_buffer("mean", torch.tensor(mean).view(shape), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(shape), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
''',
    "SeparableConv2d": '''
class SeparableConv2d(nn.Module):
    """A depthwise convolution (no bias), then a 1x1 pointwise convolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        depth_multiplier: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        middle = in_channels * depth_multiplier
        self.depthwise = nn.Conv2d(
            in_channels,
            middle,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(middle, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
''',
    "SinusoidalEncoding": '''
class SinusoidalEncoding(nn.Module):
    """Adds a fixed sin/cos position table (a constant, not saved with the weights)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
        step = torch.arange(0, d_model, 2, dtype=torch.float32)
        rate = torch.exp(step * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: d_model // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.size(1)]
''',
    "LearnedEncoding": '''
class LearnedEncoding(nn.Module):
    """Adds a learned table of position vectors."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.empty(max_len, d_model))
        nn.init.normal_(self.table, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.size(1)]
''',
    "LearnedTensor": '''
class LearnedTensor(nn.Module):
    """A learned tensor every sample shares (batch dimension 1): a class token, a position table."""

    def __init__(self, shape: tuple[int, ...], std: float = 0.02) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, *shape))
        if std:
            nn.init.normal_(self.weight, std=std)

    def forward(self) -> torch.Tensor:
        return self.weight
''',
    "FixedTensor": '''
class FixedTensor(nn.Module):
    """A fixed tensor every sample shares (batch dimension 1), saved with the weights: a mask, a table."""

    def __init__(self, shape: tuple[int, ...], fill: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("value", torch.full((1, *shape), fill))

    def forward(self) -> torch.Tensor:
        return self.value
''',
    "causal_mask": '''
def causal_mask(x: torch.Tensor) -> torch.Tensor:
    """-inf above the diagonal: each position attends to itself and the ones before it."""
    return nn.Transformer.generate_square_subsequent_mask(x.size(1), device=x.device)
''',
    "recurrent_outputs": '''
def recurrent_outputs(
    layer: nn.RNNBase, x: torch.Tensor, reverse: bool = False
) -> tuple[torch.Tensor, ...]:
    """Every step, then the top layer's final state(s), forward then backward."""
    sequence, states = layer(x.flip(1) if reverse else x)
    directions = 2 if layer.bidirectional else 1
    finals = states if isinstance(states, tuple) else (states,)
    tops = tuple(torch.cat(tuple(state[-directions:]), dim=-1) for state in finals)
    return (sequence.flip(1) if reverse else sequence, *tops)
''',
}
HELPER_NAMES = frozenset(HELPERS)  # a layer named like a helper must not shadow it
