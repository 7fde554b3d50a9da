"""ConvRNN with the reciprocal gated cell (Nayebi et al. 2018/2022), one layer."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._registry import register_model
from .base import RecurrentCell, RecurrentNet
from .layers import recurrent_net


class ReciprocalGatedCell(RecurrentCell):
    r"""Reciprocal gated cell (RGC) with the released ``rgc_shallow`` settings (tau and gate
    nonlinearities sigmoid, offsets 1, multipliers -1, so every coefficient is 1 - sigma(.);
    ELU cell and output activations; input to the cell on, to the output off; the residual
    input gates the output)::

        c_t = ELU( (1 - sigma(W_cc * c_{t-1})) . c_{t-1} + (1 - sigma(W_hc * h_{t-1})) . (W_xc * X) )
        h_t = ELU( (1 - sigma(W_hh * h_{t-1})) . h_{t-1} + (1 - sigma(W_ch * c_{t-1} + W_rh * X)) . X )

    The output gate reads c_{t-1}, not c_t (as in the reference code). X is the stem features,
    presented at every step (for one layer the unrolling delays are ignored); it is both the
    feed-forward input and the residual input ``res``. Every W is a ``kernel`` x ``kernel``
    convolution with a bias (zero-initialised, PyTorch default weights); c_0 = h_0 = 0. No
    normalisation and no per-step parameters: any number of steps runs (ELU with an integrating
    memory is unbounded, so long-horizon instability is a property to measure, not a bug).

    Implementation: W_xc * X and W_rh * X are one convolution computed once per forward; W_cc
    and W_ch are one convolution of c, W_hh and W_hc one of h.
    """

    def __init__(self, channels: int, *, kernel: int = 5) -> None:
        super().__init__()
        c, pad = channels, kernel // 2
        self.channels = c
        self.w_x = nn.Conv2d(c, 2 * c, kernel, padding=pad)  # W_xc | W_rh
        self.w_c = nn.Conv2d(c, 2 * c, kernel, padding=pad)  # W_cc | W_ch
        self.w_h = nn.Conv2d(c, 2 * c, kernel, padding=pad)  # W_hh | W_hc
        for conv in (self.w_x, self.w_c, self.w_h):
            nn.init.zeros_(conv.bias)
        self.out_channels = c

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u_c, res_gate = self.w_x(x).chunk(2, dim=1)  # W_xc * X, W_rh * X
        return x, u_c, res_gate

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = x.new_zeros(x.shape[0], self.channels, x.shape[2], x.shape[3])
        return zeros, zeros

    def forward(self, drive: tuple, state: tuple[torch.Tensor, torch.Tensor], t: int) -> tuple:
        X, u_c, res_gate = drive
        c, h = state
        tau_c, gate_h = self.w_c(c).chunk(2, dim=1)  # W_cc * c, W_ch * c
        tau_h, gate_c = self.w_h(h).chunk(2, dim=1)  # W_hh * h, W_hc * h
        c_new = F.elu((1 - torch.sigmoid(tau_c)) * c + (1 - torch.sigmoid(gate_c)) * u_c)
        h_new = F.elu((1 - torch.sigmoid(tau_h)) * h + (1 - torch.sigmoid(gate_h + res_gate)) * X)
        return c_new, h_new

    def output(self, state: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return state[1]


# the kernels and step counts of the other recurrent layers on each task
DEFAULTS = {
    "mazes": dict(width=64, kernel=5, steps=15),
    "pathfinder": dict(width=32, kernel=9, steps=12),
}


@register_model("convrnn", defaults=DEFAULTS)
def convrnn(*, task: str, width: int, steps: int, kernel: int, norm: str = "batch") -> RecurrentNet:
    """ConvRNN: one reciprocal gated cell (Nayebi et al.), zero initial state."""
    cell = ReciprocalGatedCell(width, kernel=kernel)
    return recurrent_net(task, cell, width=width, steps=steps, norm=norm)
