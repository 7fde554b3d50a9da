"""Feed-forward ResNets and their weight-tied twins (R-ResNets), for mazes and PathFinder.

Mazes (the authors' ``residual_network_segment`` / ``recur_residual_network_segment``): stem
3x3 conv + ReLU, ``(depth - 4) / 4`` groups of 2 BasicBlocks at full resolution, no
normalisation, the maze head (3 convs): stem + 4 convs per group + head = ``depth`` layers.

PathFinder (the authors' ``resnet_thin``: a torchvision ResNet with every stage ``width`` wide):
the Gabor stem (11x11/2, BN, ReLU, maxpool), 4 stages of BasicBlocks with BatchNorm and strides
1, 2, 2, 2 (ResNet-10: 1 block per stage, ResNet-18: 2), the PathFinder head.

R-ResNet twins: ONE group of 2 BasicBlocks (no normalisation, stride 1) applied ``steps`` times,
``steps`` = the number of 2-block groups of the feed-forward twin: ``(depth - 4) / 4`` for mazes
(2, 4, 8) and ``(depth - 2) / 4`` for PathFinder (ResNet-d there is stem + (d - 2) block convs +
the linear readout: 2 for R-ResNet-10, 4 for R-ResNet-18; the PathFinder twin keeps the stem's
resolution, since a weight-tied block cannot downsample). Extrapolation is ``steps`` at call time.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import register_model
from .base import FeedForwardNet, RecurrentCell, RecurrentNet
from .layers import task_head, task_stem


class BasicBlock(nn.Module):
    """out = ReLU( N(W_2 * ReLU(N(W_1 * x))) + shortcut(x) ), 3x3 convs without bias.

    ``norm=False``: no normalisation (the maze nets, every weight-tied block); ``stride > 1``
    (PathFinder) adds the torchvision shortcut, a strided 1x1 conv + BN.
    """

    def __init__(self, channels: int, *, stride: int = 1, norm: bool = False) -> None:
        super().__init__()
        make_norm = (lambda: nn.BatchNorm2d(channels)) if norm else nn.Identity
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.n1 = make_norm()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.n2 = make_norm()
        self.shortcut = nn.Identity()
        if stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(channels, channels, 1, stride=stride, bias=False), make_norm())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.n1(self.conv1(x)))
        return F.relu(self.n2(self.conv2(out)) + self.shortcut(x))


def block_group(channels: int) -> nn.Sequential:
    """2 BasicBlocks without normalisation: 4 convolutions, one group / one R-ResNet step."""
    return nn.Sequential(BasicBlock(channels), BasicBlock(channels))


class RecurrentBlockCell(RecurrentCell):
    """R-ResNet step: h_t = B_2(B_1(h_{t-1})), h_0 = the stem features, B a BasicBlock.

    The same two blocks (weight-tied) at every step; no normalisation, so any number of steps
    runs. The input is not re-injected (see ``dt_recall`` for the recall variant).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.recur_block = block_group(channels)
        self.out_channels = channels

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, drive: torch.Tensor, h: torch.Tensor, t: int) -> torch.Tensor:
        return self.recur_block(h)


PATHFINDER_DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2)}  # BasicBlocks per stage


def _resnet(task: str, depth: int, width: int) -> FeedForwardNet:
    if task == "mazes":
        groups = [block_group(width) for _ in range((depth - 4) // 4)]
        body = nn.Sequential(task_stem(task, width, "none"), *groups, task_head(task, width, "none"))
        return FeedForwardNet(body)
    stages = [
        BasicBlock(width, stride=2 if i > 0 and j == 0 else 1, norm=True)
        for i, n_blocks in enumerate(PATHFINDER_DEPTHS[depth])
        for j in range(n_blocks)
    ]
    return FeedForwardNet(nn.Sequential(task_stem(task, width), *stages, task_head(task, width)))


def _rresnet(task: str, width: int, steps: int) -> RecurrentNet:
    stem, head = task_stem(task, width, "none"), task_head(task, width, "none")  # (the Gabor stem keeps its BN)
    return RecurrentNet(stem, RecurrentBlockCell(width), head, steps=steps)


# widths: the authors' 64 (mazes) / 54 (PathFinder's resnet_thin); an R-ResNet's trained steps are
# the number of 2-block groups of its feed-forward twin: (depth - 4) / 4 mazes, (depth - 2) / 4 PathFinder
MAZES, PATHFINDER = {"width": 64}, {"width": 54}


def _maze_twin(depth: int) -> dict:
    return {"mazes": {**MAZES, "steps": (depth - 4) // 4}}


def _pathfinder_twin(depth: int) -> dict:
    return {"pathfinder": {**PATHFINDER, "steps": (depth - 2) // 4}}


# the authors' counts at width 64 (mazes) / 54 (PathFinder's resnet_thin); see models/summary.py
_MAZE_GROUP, _MAZE_REST = 147_456, 22_608  # one 2-block group; stem + head (no bias)


@register_model(
    "resnet12", defaults={"mazes": MAZES}, recurrent=False, paper_params={"mazes": _MAZE_REST + 2 * _MAZE_GROUP}
)
def resnet12(*, task: str, width: int) -> FeedForwardNet:
    """ResNet-12 for mazes: width 64, 2 groups of 2 BasicBlocks, no normalisation."""
    return _resnet(task, 12, width)


@register_model("resnet20", defaults={"mazes": MAZES}, recurrent=False, paper_params={"mazes": 612_432})
def resnet20(*, task: str, width: int) -> FeedForwardNet:
    """ResNet-20 for mazes: width 64, 4 groups of 2 BasicBlocks, no normalisation."""
    return _resnet(task, 20, width)


@register_model(
    "resnet36", defaults={"mazes": MAZES}, recurrent=False, paper_params={"mazes": _MAZE_REST + 8 * _MAZE_GROUP}
)
def resnet36(*, task: str, width: int) -> FeedForwardNet:
    """ResNet-36 for mazes: width 64, 8 groups of 2 BasicBlocks, no normalisation."""
    return _resnet(task, 36, width)


@register_model("rresnet12", defaults=_maze_twin(12), paper_params={"mazes": 170_064})
def rresnet12(*, task: str, width: int, steps: int) -> RecurrentNet:
    """R-ResNet-12 for mazes: one group of 2 BasicBlocks applied 2 times (weight-tied)."""
    return _rresnet(task, width, steps)


@register_model("rresnet20", defaults=_maze_twin(20), paper_params={"mazes": 170_064})
def rresnet20(*, task: str, width: int, steps: int) -> RecurrentNet:
    """R-ResNet-20 for mazes: one group of 2 BasicBlocks applied 4 times (weight-tied)."""
    return _rresnet(task, width, steps)


@register_model("rresnet36", defaults=_maze_twin(36), paper_params={"mazes": 170_064})
def rresnet36(*, task: str, width: int, steps: int) -> RecurrentNet:
    """R-ResNet-36 for mazes: one group of 2 BasicBlocks applied 8 times (weight-tied)."""
    return _rresnet(task, width, steps)


@register_model("resnet10", defaults={"pathfinder": PATHFINDER}, recurrent=False, paper_params={"pathfinder": 239_824})
def resnet10(*, task: str, width: int) -> FeedForwardNet:
    """ResNet-10 for PathFinder: Gabor stem, 4 stages of 1 BasicBlock, all 54 wide, BatchNorm."""
    return _resnet(task, 10, width)


@register_model("resnet18", defaults={"pathfinder": PATHFINDER}, recurrent=False, paper_params={"pathfinder": 450_640})
def resnet18(*, task: str, width: int) -> FeedForwardNet:
    """ResNet-18 for PathFinder: Gabor stem, 4 stages of 2 BasicBlocks, all 54 wide, BatchNorm."""
    return _resnet(task, 18, width)


@register_model("rresnet10", defaults=_pathfinder_twin(10))
def rresnet10(*, task: str, width: int, steps: int) -> RecurrentNet:
    """R-ResNet-10 for PathFinder: one group of 2 BasicBlocks applied 2 times (weight-tied)."""
    return _rresnet(task, width, steps)


@register_model("rresnet18", defaults=_pathfinder_twin(18))
def rresnet18(*, task: str, width: int, steps: int) -> RecurrentNet:
    """R-ResNet-18 for PathFinder: one group of 2 BasicBlocks applied 4 times (weight-tied)."""
    return _rresnet(task, width, steps)
