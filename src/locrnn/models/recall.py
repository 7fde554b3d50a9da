"""DeepThinking-style recall network (Bansal et al. 2022, ``dt_net_recall_2d``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import register_model
from .base import RecurrentCell, RecurrentNet
from .layers import task_head, task_stem
from .resnet import block_group


class RecallCell(RecurrentCell):
    r"""DT-net with recall: the input is concatenated to the state before every step::

        h_0 = ReLU( W_p * X )                                     (projection)
        u_t = W_r * [h_{t-1}, X]                                  (recall conv, no activation)
        h_t = B_2( B_1( u_t ) ),   B(v) = ReLU( v + W_b2 * ReLU( W_b1 * v ) )

    All 3x3, bias-free, no normalisation; the same weights at every step, so any number of steps
    runs. X is the raw image for mazes (as in DeepThinking) and the Gabor stem features for
    PathFinder (the state lives at the stem's resolution). W_r * [h, X] = W_rh * h + W_rx * X;
    the X half is computed once per forward.
    """

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.projection = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.recall = nn.Conv2d(width + in_channels, width, 3, padding=1, bias=False)
        self.recur_block = block_group(width)
        self.out_channels = width

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.recall.weight[:, self.width :], padding=1)

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.projection(x))

    def forward(self, recall_x: torch.Tensor, h: torch.Tensor, t: int) -> torch.Tensor:
        return self.recur_block(recall_x + F.conv2d(h, self.recall.weight[:, : self.width], padding=1))

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """The recall conv and the two blocks: DeepThinking's ``recur_block`` (its lr / max_iters
        goes to the parameters whose name holds "recur"); the projection runs once."""
        return [*self.recall.parameters(), *self.recur_block.parameters()]


_PF_STEM_WIDTH = 32  # the paper's Gabor stem


@register_model(
    "dt_recall",
    # mazes: DeepThinking's maze config (width 128, max_iters 30); PathFinder (not in the paper):
    # LocRNN's width and step count
    defaults={"mazes": dict(width=128, steps=30), "pathfinder": dict(width=32, steps=12)},
    paper_params={"mazes": 783_504},
)
def dt_recall(*, task: str, width: int, steps: int) -> RecurrentNet:
    """DeepThinking recall net: input re-injected by concatenation, 2 BasicBlocks per step."""
    if task == "mazes":
        stem, in_channels = nn.Identity(), 3
    else:
        stem, in_channels = task_stem(task, _PF_STEM_WIDTH), _PF_STEM_WIDTH
    cell = RecallCell(in_channels, width)
    return RecurrentNet(stem, cell, task_head(task, width, "none"), steps=steps)
