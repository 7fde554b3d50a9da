r"""Learned adaptive computation time (Graves 2016, as AdRNN adds it to LocRNN and ConvGRU).

A halting head reads the readout state after each step and gives one halting probability per
sample; the output is the halting-weighted mixture of the readout states::

    lambda_t = sigma( w . maxpool_HW( V * h_t ) + b )          V: 1x1 conv to 2 maps, b = -5 at init
    N        = min{ n : sum_{t<=n} lambda_t >= 1 - eps }        (or the step budget)
    p_t      = lambda_t (t < N),   p_N = R = 1 - sum_{t<N} lambda_t
    output   = head( sum_{t<=N} p_t h_t ),   loss = CE(output) + tau * R

Each sample halts at its own N (samples that halted are masked out of later steps). The bias
of -5 starts halting late; training also begins with halting off (``act_warmup``, see
training/objectives.py), and the ponder cost tau * R (AdRNN: tau = 0.1, R the mean remainder) then
pushes halting earlier wherever an earlier answer is as good. At test time the step budget is raised and each
sample stops when its halting mass is spent.

``build_model(..., halting="act")`` attaches a :class:`HaltingHead` to any recurrent model;
the training objective ``act`` trains it and ``locrnn sweep --halt act`` evaluates it. (ACT mixes
the readout states h_t = ``cell.output(state)`` before the head, so it reads them and calls the
head itself instead of :meth:`RecurrentNet.readout`.)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from ..io import UserError


class HaltingHead(nn.Module):
    """Per-sample halting probability: 1x1 conv to 2 maps -> global max pool -> Linear(2, 1) -> sigmoid."""

    def __init__(self, channels: int, bias: float = -5.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 2, 1)
        self.fc = nn.Linear(2, 1)
        nn.init.constant_(self.fc.bias, bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(torch.amax(self.conv(h), dim=(2, 3))).float()).squeeze(1)


class ActResult(NamedTuple):
    logits: torch.Tensor  # the head's output on the halting-weighted state mixture
    remainder: torch.Tensor  # R per sample (the ponder cost)
    steps: torch.Tensor  # N per sample (long)


def act_forward(net: nn.Module, x: torch.Tensor, max_steps: int, eps: float = 0.01) -> ActResult:
    """Run ``net`` (a recurrent model with a ``halt`` head) with per-sample halting, at most
    ``max_steps`` steps; stops early once every sample has halted."""
    halt = getattr(net, "halt", None)
    if halt is None:
        raise UserError("this model has no halting head; build it with halting='act' (as objective 'act' does)")
    n = x.shape[0]
    cum = torch.zeros(n, device=x.device)
    remainder = torch.zeros(n, device=x.device)
    steps = torch.full((n,), max_steps, dtype=torch.long, device=x.device)
    halted = torch.zeros(n, dtype=torch.bool, device=x.device)
    mixture = None
    for t, state in enumerate(net.states(x, max_steps), 1):
        h = net.cell.output(state)
        lam = halt(h)
        stop = ~halted & ((cum + lam >= 1 - eps) | (t == max_steps))
        p = torch.where(stop, 1 - cum, lam) * (~halted)
        term = p.view(-1, *([1] * (h.dim() - 1))).to(h.dtype) * h
        mixture = term if mixture is None else mixture + term
        remainder = torch.where(stop, p, remainder)  # a sample's last weight is its remainder
        cum = cum + p
        steps = torch.where(stop, torch.full_like(steps, t), steps)
        halted = halted | stop
        if bool(halted.all()):
            break
    return ActResult(net.head(mixture), remainder, steps)
