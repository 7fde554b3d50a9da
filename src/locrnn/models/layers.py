"""Shared stems, heads and small layers, used by every model family for both tasks.

* Mazes (dense, full resolution): stem ``conv3x3(3->C) [BN] ReLU``; head
  ``conv3x3(C->32) [BN] ReLU conv3x3(32->8) [BN] ReLU conv3x3(8->2)`` -> per-pixel logits.
* PathFinder (classification): a frozen Gabor stem ``conv11x11/2 (32 filters) BN ReLU
  maxpool3/2``; head ``conv1x1(C->2) -> global max pool -> Linear(2, 2)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..io import UserError
from .base import RecurrentCell, RecurrentNet


def blend(old: torch.Tensor, new: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """(1 - gate) * old + gate * new, in the widest dtype of the three. Under CUDA autocast a
    cell's candidates come out of a convolution in bf16 while its gate and state come out of
    GroupNorm in fp32, and ``torch.lerp`` refuses mixed dtypes (CPU autocast keeps them equal)."""
    dt = torch.promote_types(torch.promote_types(old.dtype, new.dtype), gate.dtype)
    return torch.lerp(old.to(dt), new.to(dt), gate.to(dt))


def grouped_pointwise(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` for a grouped 1x1 convolution, computed as one batched matmul.

    out[b, g] = W_g @ x[b, g] + bias_g, with x viewed as (B, groups, C_in / groups, H * W). Same
    result and parameters as the convolution; oneDNN runs grouped 1x1 convolutions far below its
    dense rate on CPUs (LocRNN's U_ll | U_ss, 2 groups of 32 at 24x24, batch 8, fp32 with AVX2:
    forward and backward 2.4 ms as a convolution, 0.9 ms as a matmul, timed side by side; the
    training step's gain is in benchmarks/cpu_levers.py)."""
    g = conv.groups
    b, c, h, w = x.shape
    weight = conv.weight.view(g, conv.out_channels // g, c // g)
    out = torch.matmul(weight, x.reshape(b, g, c // g, h * w))
    if conv.bias is not None:
        out = out + conv.bias.view(g, -1, 1).to(out.dtype)
    return out.reshape(b, conv.out_channels, h, w)


def pixel_group_norm(
    x: torch.Tensor, groups: int, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """A layer norm of each group's channels at every pixel separately (no pooling over space).

    y = (x - mean_c x) / sqrt(var_c x + eps) * weight + bias, the mean and variance taken over the
    group's channels at one pixel. Unlike a norm over (C, H, W) it couples no two pixels: the
    update stays local, whatever the image size.

    The variance is the mean of the squared deviations, written out: ``torch.var_mean`` over the
    channel dimension of an NCHW tensor is a strided reduction that CPUs run far below these
    elementwise passes (LocRNN's shape, batch 32, 2 groups of 32 channels at 24x24, fp32, 2 threads
    of an AVX2 CPU: forward 18 ms against 2 ms, forward and backward 32 ms against 12-17 ms;
    ``benchmarks/pixel_norm.py`` times the whole model both ways)."""
    b, c, h, w = x.shape
    xg = x.view(b, groups, c // groups, h, w)
    dev = xg - xg.mean(2, keepdim=True)
    var = (dev * dev).mean(2, keepdim=True)
    y = (dev * torch.rsqrt(var + eps)).view(b, c, h, w)
    return torch.addcmul(bias.view(1, -1, 1, 1).to(y.dtype), y, weight.view(1, -1, 1, 1).to(y.dtype))


def layer_norm(channels: int) -> nn.GroupNorm:
    """LayerNorm over (C, H, W) per sample with a per-channel affine: any image size works."""
    return nn.GroupNorm(1, channels)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return layer_norm(channels)
    if kind == "none":
        return nn.Identity()
    raise UserError(f"unknown norm {kind!r}; choose batch, layer or none")


def conv_norm_relu(cin: int, cout: int, k: int = 3, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=norm == "none"), _norm(norm, cout), nn.ReLU())


def maze_stem(width: int, norm: str = "batch", in_channels: int = 3) -> nn.Module:
    return conv_norm_relu(in_channels, width, 3, norm)


def maze_head(channels: int, norm: str = "batch") -> nn.Module:
    return nn.Sequential(
        conv_norm_relu(channels, 32, 3, norm),
        conv_norm_relu(32, 8, 3, norm),
        nn.Conv2d(8, 2, 3, padding=1, bias=False),
    )


def gabor_bank(n_filters: int = 32, size: int = 11) -> torch.Tensor:
    """Gabor filters (n_filters, 1, size, size): n/2 orientations in [0, pi) x phases {0, pi}.

    g = 0.5 exp(-(x'^2 + y'^2) / (2 sigma^2)) cos(2 pi f x' + phi), sigma = size/4, f = 2/size.
    (Orientations exclude pi, which would repeat 0, unlike the authors' helper.)
    """
    half = size // 2
    coords = torch.arange(size, dtype=torch.float64) - half
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    sigma, freq = size / 4.0, 2.0 / size
    filters = []
    for theta in torch.arange(n_filters // 2, dtype=torch.float64) * math.pi / (n_filters // 2):
        xr = x * torch.cos(theta) + y * torch.sin(theta)
        yr = -x * torch.sin(theta) + y * torch.cos(theta)
        env = 0.5 * torch.exp(-(xr**2 + yr**2) / (2 * sigma**2))
        for phase in (0.0, math.pi):
            filters.append(env * torch.cos(2 * math.pi * freq * xr + phase))
    return torch.stack(filters).unsqueeze(1).float()


class GaborStem(nn.Module):
    """Frozen Gabor conv (11x11, stride 2) -> BN -> ReLU -> maxpool(3, 2): 4x downsampling."""

    def __init__(self, width: int = 32, in_channels: int = 3, size: int = 11) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, size, stride=2, padding=size // 2, bias=False)
        with torch.no_grad():
            bank = gabor_bank(width, size)
            self.conv.weight.copy_(bank.expand(-1, in_channels, -1, -1) / in_channels)
        self.conv.weight.requires_grad_(False)
        self.rest = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.conv(x))


class PathFinderHead(nn.Module):
    """1x1 conv to 2 maps -> global max pool -> Linear(2, 2) logits."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 2, 1)
        self.fc = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.amax(self.conv(x), dim=(2, 3)))


def task_stem(task: str, width: int, norm: str = "batch") -> nn.Module:
    if task == "mazes":
        return maze_stem(width, norm)
    if task == "pathfinder":
        return GaborStem(width)
    raise UserError(f"unknown task {task!r}; choose mazes or pathfinder")


def task_head(task: str, channels: int, norm: str = "batch") -> nn.Module:
    if task == "mazes":
        return maze_head(channels, norm)
    if task == "pathfinder":
        return PathFinderHead(channels)
    raise UserError(f"unknown task {task!r}; choose mazes or pathfinder")


def recurrent_net(task: str, cell: RecurrentCell, *, width: int, steps: int, norm: str = "batch") -> RecurrentNet:
    """Wrap ``cell`` with the task's shared stem (to ``width`` channels) and head."""
    return RecurrentNet(task_stem(task, width, norm), cell, task_head(task, cell.out_channels, norm), steps=steps)
