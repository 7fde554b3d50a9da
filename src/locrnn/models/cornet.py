"""CORnet-S's recurrent block (Kubilius et al. 2018) adapted as the single recurrent layer."""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io import UserError
from ._registry import register_model
from .base import RecurrentCell, RecurrentNet
from .layers import layer_norm, recurrent_net
from .per_step import StepList

EXTRA_STEPS_NORMS = ("last", "shared", "group")


def _norm(kind: str, channels: int) -> nn.Module:
    return layer_norm(channels) if kind == "group" else nn.BatchNorm2d(channels)


def _step_norms(kind: str, channels: int, expanded: int, t: int = 0) -> nn.ModuleDict:
    """N1, N2 (on the expanded channels) and N3 of one step."""
    return nn.ModuleDict({"n1": _norm(kind, expanded), "n2": _norm(kind, expanded), "n3": _norm(kind, channels)})


class CORnetSCell(RecurrentCell):
    r"""The CORnet-S block as one recurrent layer at full resolution (all strides 1)::

        s_0 = W_in * X                                            (1x1, once)
        a_t = ReLU( N1_t( W_1 * s_{t-1} ) )                       (1x1, C -> scale.C)
        b_t = ReLU( N2_t( W_2 * a_t ) )                           (k x k, scale.C -> scale.C)
        c_t = N3_t( W_3 * b_t )                                   (1x1, scale.C -> C)
        s_t = ReLU( c_t + skip_t ),  skip_0 = N_skip( W_skip * s_0 ) (1x1),  skip_t = s_{t-1} (t > 0)

    All convolutions are bias-free, initialised N(0, 2/n) with n = k.k.out_channels (CORnet-S).
    As in CORnet-S the input is not re-injected: steps t > 0 iterate on the block's own state.
    Adaptation choices (not from the paper, which gives no CORnet-S configuration): stride 1
    everywhere (dense maze output), W_2 is ``kernel`` wide (5 for mazes, 9 for PathFinder: the
    kernels of the other recurrent layers), and the bottleneck ``scale`` is 2 (CORnet-S: 4) so
    that the parameter count stays in the range of the other recurrent baselines.

    Rule for the per-step norms (``extra_steps_norm``), the one thing that decides how the
    block behaves beyond its T trained steps:

    * ``"last"`` (default, CORnet-S): BatchNorms N1_t..N3_t separate per step for t < T
      (``norm_steps``: the trained steps unless given); every step t >= T reuses step T-1's
      norms. Weights trained for T steps load into a model built for any step count (the
      per-step list takes the loaded count).
    * ``"shared"``: one set of BatchNorms for every step (trained that way).
    * ``"group"``: one set of GroupNorm(1 group) (per-sample statistics, as LocRNN's LayerNorm)
      for every step, N_skip included: no running statistics at all.
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel: int = 5,
        scale: int = 2,
        norm_steps: int = 15,
        extra_steps_norm: str = "last",
    ) -> None:
        super().__init__()
        if extra_steps_norm not in EXTRA_STEPS_NORMS:
            raise UserError(f"unknown extra_steps_norm {extra_steps_norm!r}; choose {', '.join(EXTRA_STEPS_NORMS)}")
        c, e = channels, channels * scale
        self.rule = extra_steps_norm
        self.conv_input = nn.Conv2d(c, c, 1, bias=False)
        self.skip = nn.Conv2d(c, c, 1, bias=False)
        self.norm_skip = _norm("group" if extra_steps_norm == "group" else "batch", c)
        self.conv1 = nn.Conv2d(c, e, 1, bias=False)
        self.conv2 = nn.Conv2d(e, e, kernel, padding=kernel // 2, bias=False)
        self.conv3 = nn.Conv2d(e, c, 1, bias=False)
        kind = "group" if extra_steps_norm == "group" else "batch"
        if extra_steps_norm == "last":
            self.step_norms = StepList(partial(_step_norms, kind, c, e), norm_steps)
        else:
            self.shared_norms = _step_norms(kind, c, e)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
        self.out_channels = c

    def norms(self, t: int) -> nn.ModuleDict:
        """The norms step ``t`` uses under the rule."""
        if self.rule != "last":
            return self.shared_norms
        return self.step_norms[min(t, len(self.step_norms) - 1)]

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_input(x)  # s_0

    def forward(self, X: torch.Tensor, s: torch.Tensor, t: int) -> torch.Tensor:
        n = self.norms(t)  # X is not used after s_0: no re-injection, as in CORnet-S
        skip = self.norm_skip(self.skip(s)) if t == 0 else s
        a = F.relu(n["n1"](self.conv1(s)))
        b = F.relu(n["n2"](self.conv2(a)))
        return F.relu(n["n3"](self.conv3(b)) + skip)


DEFAULTS = {
    "mazes": dict(width=64, kernel=5, steps=15),
    "pathfinder": dict(width=32, kernel=9, steps=12),
}


@register_model("cornet_s", defaults=DEFAULTS)
def cornet_s(
    *,
    task: str,
    width: int,
    steps: int,
    kernel: int,
    scale: int = 2,
    extra_steps_norm: str = "last",
    norm: str = "batch",
    norm_steps: int | None = None,
) -> RecurrentNet:
    """CORnet-S block as one recurrent layer (stride 1); per-step BN, steps >= T reuse the last.

    ``steps`` is the default call-time step count; ``norm_steps`` the number of per-step norm sets
    (default: ``steps``)."""
    cell = CORnetSCell(
        width, kernel=kernel, scale=scale, norm_steps=norm_steps or steps, extra_steps_norm=extra_steps_norm
    )
    return recurrent_net(task, cell, width=width, steps=steps, norm=norm)
