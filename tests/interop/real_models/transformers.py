"""Vision transformers with torchvision's module names: ViT-B/16 (Dosovitskiy et al. 2020) and Swin-T (Liu et al. 2021)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from tests.interop.real_models.layers import Permute


class MLP(nn.Sequential):
    """Linear, GELU, dropout, Linear, dropout (indices 0 and 3 hold the weights, as torchvision's MLP block)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))


class EncoderBlock(nn.Module):
    """Pre-norm: x + attention(LN(x)), then + MLP(LN(...)); attention is torch's MultiheadAttention, batch first."""

    def __init__(self, heads: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.dropout(self.self_attention(y, y, y, need_weights=False)[0])
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, tokens: int, layers: int, heads: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        self.layers = nn.Sequential(OrderedDict((f"encoder_layer_{i}", EncoderBlock(heads, dim, hidden)) for i in range(layers)))
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """Patches by a strided convolution, a learned class token in front, learned positions, encoder blocks, the class token classified."""

    def __init__(self, image: int = 224, patch: int = 16, layers: int = 12, heads: int = 12, dim: int = 768, hidden: int = 3072, classes: int = 1000) -> None:
        super().__init__()
        self.dim = dim
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.encoder = Encoder((image // patch) ** 2 + 1, layers, heads, dim, hidden)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(dim, classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x)
        x = x.reshape(x.shape[0], self.dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def vit_b_16(image: int = 224, layers: int = 12, heads: int = 12, dim: int = 768, hidden: int = 3072, classes: int = 1000) -> VisionTransformer:
    return VisionTransformer(image, 16, layers, heads, dim, hidden, classes)


def relative_index(window: int) -> torch.Tensor:
    """For each pair of positions in a window, the row of the (2w-1)^2 bias table their offset reads."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, w*w)
    offset = coords[:, :, None] - coords[:, None, :] + window - 1  # each in [0, 2w-2]
    return (offset[0] * (2 * window - 1) + offset[1]).flatten()


def window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """-100 between tokens of a shifted window that came from different regions of the map, 0 elsewhere: (windows, w*w, w*w)."""
    region = torch.zeros(height, width)
    bounds = ((0, -window), (-window, -shift), (-shift, None))
    for i, (top, bottom) in enumerate(bounds):
        for j, (left, right) in enumerate(bounds):
            region[top:bottom, left:right] = 3 * i + j
    region = region.view(height // window, window, width // window, window).permute(0, 2, 1, 3).reshape(-1, window * window)
    differs = region[:, None, :] - region[:, :, None]
    return differs.masked_fill(differs != 0, -100.0).masked_fill(differs == 0, 0.0)


class ShiftedWindowAttention(nn.Module):
    """Attention inside w x w windows (cyclically shifted by `shift`), with a learned relative-position bias per head."""

    def __init__(self, dim: int, window: int, shift: int, heads: int) -> None:
        super().__init__()
        self.window, self.shift, self.num_heads = window, shift, heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_index(window), persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, dim = x.shape
        w, heads = self.window, self.num_heads
        x = nn.functional.pad(x, (0, 0, 0, (w - width % w) % w, 0, (w - height % w) % w))
        _, ph, pw, _ = x.shape
        shift = self.shift if w < ph else 0  # a window covering the map is never shifted (torchvision checks each axis; maps here are square)
        if shift:
            x = torch.roll(x, (-shift, -shift), (1, 2))
        windows = (ph // w) * (pw // w)
        x = x.view(batch, ph // w, w, pw // w, w, dim).permute(0, 1, 3, 2, 4, 5).reshape(batch * windows, w * w, dim)
        qkv = self.qkv(x).reshape(x.size(0), x.size(1), 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (dim // heads) ** -0.5, qkv[1], qkv[2]
        bias = self.relative_position_bias_table[self.relative_position_index].view(w * w, w * w, -1).permute(2, 0, 1).unsqueeze(0)
        scores = q.matmul(k.transpose(-2, -1)) + bias
        if shift:
            mask = window_mask(ph, pw, w, shift).to(x.dtype)
            scores = scores.view(x.size(0) // windows, windows, heads, w * w, w * w) + mask.unsqueeze(1).unsqueeze(0)
            scores = scores.view(-1, heads, w * w, w * w)
        x = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), dim)
        x = self.proj(x)
        x = x.view(batch, ph // w, pw // w, w, w, dim).permute(0, 1, 3, 2, 4, 5).reshape(batch, ph, pw, dim)
        if shift:
            x = torch.roll(x, (shift, shift), (1, 2))
        return x[:, :height, :width, :].contiguous()


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ShiftedWindowAttention(dim, window, shift, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))  # stochastic depth is the identity in eval mode
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """Each 2x2 patch's four tokens joined (padded to even sizes first), normed and projected to twice the width."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-3:-1]
        x = nn.functional.pad(x, (0, 0, 0, width % 2, 0, height % 2))
        x = torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)
        return self.reduction(self.norm(x))


class SwinTransformer(nn.Module):
    def __init__(self, dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2), heads: tuple[int, ...] = (3, 6, 12, 24), window: int = 7, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, dim, 4, 4), Permute([0, 2, 3, 1]), nn.LayerNorm(dim))]
        for i, (depth, count) in enumerate(zip(depths, heads)):
            width = dim * 2**i
            layers.append(nn.Sequential(*[SwinTransformerBlock(width, count, window, 0 if j % 2 == 0 else window // 2) for j in range(depth)]))
            if i + 1 < len(depths):
                layers.append(PatchMerging(width))
        self.features = nn.Sequential(*layers)
        last = dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(last)
        self.permute = Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(last, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flatten(self.avgpool(self.permute(self.norm(self.features(x))))))


def swin_t(dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2), heads: tuple[int, ...] = (3, 6, 12, 24), window: int = 7, classes: int = 1000) -> SwinTransformer:
    return SwinTransformer(dim, depths, heads, window, classes)
