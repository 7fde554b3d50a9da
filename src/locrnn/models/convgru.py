"""ConvGRU (Ballas et al. 2016 form, as in the LocRNN authors' code) and its ReLU variant (Sec. 5.4)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io import UserError
from ._registry import register_model
from .base import RecurrentCell, RecurrentNet
from .layers import recurrent_net

_CANDIDATE = {"tanh": torch.tanh, "relu": F.relu}


class ConvGRUCell(RecurrentCell):
    r"""Convolutional GRU with the stem features X as the constant input at every step::

        z_t  = sigma( W_z * [X, h_{t-1}] + b_z )                 (update gate)
        r_t  = sigma( W_r * [X, h_{t-1}] + b_r )                 (reset gate)
        h~_t = phi( W_h * [X, r_t . h_{t-1}] + b_h )              (candidate)
        h_t  = (1 - z_t) . h_{t-1} + z_t . h~_t

    ``*`` is a ``kernel`` x ``kernel`` convolution over the channel concatenation, phi = tanh
    (``candidate="relu"``: ReLU, the paper's Sec. 5.4 variant). h_0 = 0 (made with the input's
    device and dtype). Init as the authors' code: orthogonal weights (one orthogonal matrix per
    W), zero biases. No normalisation and no per-step parameters, so any number of steps runs.

    Implementation: W * [X, h] = W_x * X + W_h * h; the X halves are computed once per forward
    (:meth:`prepare`), and W_z, W_r are one convolution with 2 x hidden outputs.
    """

    def __init__(self, in_channels: int, hidden: int, *, kernel: int = 5, candidate: str = "tanh") -> None:
        super().__init__()
        if candidate not in _CANDIDATE:
            raise UserError(f"unknown candidate nonlinearity {candidate!r}; choose {sorted(_CANDIDATE)}")
        self.in_channels, self.hidden, self.pad = in_channels, hidden, kernel // 2
        self.phi = _CANDIDATE[candidate]
        self.gates = nn.Conv2d(in_channels + hidden, 2 * hidden, kernel, padding=self.pad)  # W_z | W_r
        self.cand = nn.Conv2d(in_channels + hidden, hidden, kernel, padding=self.pad)  # W_h
        with torch.no_grad():
            for w in (*self.gates.weight.split(hidden, 0), self.cand.weight):
                nn.init.orthogonal_(w)
            self.gates.bias.zero_()
            self.cand.bias.zero_()
        self.out_channels = hidden

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.in_channels
        gx = F.conv2d(x, self.gates.weight[:, :c], self.gates.bias, padding=self.pad)
        hx = F.conv2d(x, self.cand.weight[:, :c], self.cand.bias, padding=self.pad)
        return gx, hx

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.hidden, x.shape[2], x.shape[3])

    def forward(self, drive: tuple[torch.Tensor, torch.Tensor], h: torch.Tensor, t: int) -> torch.Tensor:
        gx, hx = drive
        c = self.in_channels
        z, r = torch.sigmoid(gx + F.conv2d(h, self.gates.weight[:, c:], padding=self.pad)).chunk(2, dim=1)
        h_tilde = self.phi(hx + F.conv2d(r * h, self.cand.weight[:, c:], padding=self.pad))
        return h + z * (h_tilde - h)  # (1 - z) h + z h~ (not lerp: autocast may mix dtypes)


# stem width (= hidden unless given), kernel, trained steps: authors' maze code (64, 5, 15);
# PathFinder: the paper's 9x9 kernel and 12 steps, hidden 32 to match the 32-channel stem
DEFAULTS = {
    "mazes": dict(width=64, kernel=5, steps=15),
    "pathfinder": dict(width=32, kernel=9, steps=12),
}


@register_model("convgru", defaults=DEFAULTS, paper_params={"mazes": 637_408})
def convgru(
    *,
    task: str,
    width: int,
    steps: int,
    kernel: int,
    hidden: int | None = None,
    norm: str = "batch",
    candidate: str = "tanh",
) -> RecurrentNet:
    """ConvGRU (tanh candidate), zero initial state, orthogonal init."""
    cell = ConvGRUCell(width, hidden or width, kernel=kernel, candidate=candidate)
    return recurrent_net(task, cell, width=width, steps=steps, norm=norm)


@register_model("convgru_relu", defaults=DEFAULTS)
def convgru_relu(
    *, task: str, width: int, steps: int, kernel: int, hidden: int | None = None, norm: str = "batch"
) -> RecurrentNet:
    """ConvGRU with a ReLU candidate instead of tanh (the paper's Sec. 5.4 variant)."""
    return convgru(candidate="relu", **locals())
