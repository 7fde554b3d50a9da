"""Variants of the LocRNN cell kept only to measure what each implementation lever gives.

* :class:`TwoTensorCell`: the cell as first written: the state is the pair (L, S), so every step
  concatenates L and S for the recurrent convolutions, and each population has its own gate,
  LayerNorm and update ops.
* :func:`no_zero_skip`: the current cell, but the first step convolves the zero state too.
* :func:`out_of_place`: the current cell with activations that allocate a new tensor.

Both compute the same equations with the same parameters as ``locrnn.models.locrnn.LocRNNCell``.
"""

from __future__ import annotations

import torch

from locrnn.models.locrnn import LocRNNCell


class TwoTensorCell(LocRNNCell):
    """The first fused implementation: state (L, S), one torch.cat of the state per step."""

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c, p = self.hidden, self.pops
        terms = self.w_x(x).split(c, dim=1)
        drive = list(terms[:p])
        if self.gates:
            drive += [ln(u) for ln, u in zip(self.ln_ux, terms[p:])]
        return tuple(drive)

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        zeros = x.new_zeros(x.shape[0], self.hidden, x.shape[2], x.shape[3])
        return (zeros,) * self.pops

    def forward(self, drive: tuple[torch.Tensor, ...], state: tuple, t: int) -> tuple:
        p = self.pops
        LS = torch.cat(state, dim=1) if p == 2 else state[0]
        candidates = [self.act(drive[0] + self.w_l(LS))]
        if self.use_s:
            candidates.append(self.act(drive[1] + self.w_s(LS)))
        u_h = self.u_h(LS).split(self.hidden, dim=1)
        new = []
        for i in range(p):
            G = torch.sigmoid(drive[p + i] + self.ln_uh[i](u_h[i]))
            new.append(self.act(self.ln_out[i](torch.lerp(state[i], candidates[i], G))))
        return tuple(new)

    def output(self, state: tuple) -> torch.Tensor:
        return state[0]


def two_tensor(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` (a full LocRNN) with its cell swapped for :class:`TwoTensorCell` (shared weights)."""
    cell = model.cell
    if not (cell.use_s and cell.gates and cell.init == "zeros"):
        raise ValueError("the two-tensor variant covers the full LocRNN only")
    cell.__class__ = TwoTensorCell
    return model


class _NoZeroSkip(LocRNNCell):
    def _recurrent(self, LS: torch.Tensor, like: torch.Tensor, t: int) -> torch.Tensor:
        return super()._recurrent(LS, like, t + 1)  # never the first step


def no_zero_skip(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` whose first step also convolves the zero initial state."""
    model.cell.__class__ = _NoZeroSkip
    return model


def out_of_place(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` whose cell applies its activations out of place (a new tensor each)."""
    model.cell._act_ = model.cell.act
    return model
