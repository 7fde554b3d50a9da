"""hConvGRU (Linsley et al. 2018) as the LocRNN authors ran it, and a shared-norm variant."""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io import UserError
from ._registry import register_model
from .base import RecurrentCell, RecurrentNet
from .layers import recurrent_net
from .per_step import StepList

_BN_EPS = 1e-3
_BN_GAMMA = 0.1  # the authors' BatchNorm weight init
_NORMS = ("g1", "c1", "g2", "c2")  # BN_1..BN_4 of the equations


class _SymmetricGrad(torch.autograd.Function):
    """Identity forward; backward symmetrises the gradient over the (out, in) channel axes."""

    @staticmethod
    def forward(ctx, w: torch.Tensor) -> torch.Tensor:
        return w.view_as(w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return 0.5 * (grad + grad.transpose(0, 1))


def _bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, eps=_BN_EPS)
    nn.init.constant_(bn.weight, _BN_GAMMA)
    return bn


def _step_norms(channels: int, t: int) -> nn.ModuleDict:
    """The BatchNorms of step ``t``; step 0 has no g1/c1 norms (h_0 = 0 makes them inert)."""
    return nn.ModuleDict({k: _bn(channels) for k in _NORMS if t > 0 or k in ("g2", "c2")})


def fresh_bn(x: torch.Tensor, training: bool) -> torch.Tensor:
    """A freshly initialised BatchNorm (weight 0.1, bias 0, running mean 0 / var 1), stateless."""
    if training:
        return _BN_GAMMA * F.batch_norm(x, None, None, training=True, eps=_BN_EPS)
    return x * (_BN_GAMMA / math.sqrt(1.0 + _BN_EPS))


class HConvGRUCell(RecurrentCell):
    r"""hConvGRU (Linsley et al. 2018), the PyTorch form the LocRNN authors used::

        g1_t = sigma( BN1_t( U1 * h_{t-1} ) )                     (1x1, bias)
        c1_t = BN2_t( W_inh * (g1_t . h_{t-1}) )                  (k x k, no bias)
        n_t  = ReLU( X - ReLU( c1_t . (alpha . h_{t-1} + mu) ) )
        g2_t = sigma( BN3_t( U2 * n_t ) )
        c2_t = BN4_t( W_exc * n_t )
        h~_t = ReLU( kappa . n_t + gamma . c2_t + omega . n_t . c2_t )
        h_t  = (1 - g2_t) . h_{t-1} + g2_t . h~_t

    and the readout sees BN_out(h_t). X (the stem features) has as many channels as h. alpha,
    mu, kappa, gamma, omega are per-channel (init 0.1, 1, 0.5, 1, 0.5); U1, U2, W_inh, W_exc are
    orthogonally initialised; b_U1 = log U(1, T-1) (the "chronos" init: the authors' code meant
    this, but its ``.log()`` was not in place), b_U2 = -b_U1; BNs have eps 1e-3 and weight 0.1.
    The gradients of W_inh and W_exc are symmetrised over their channel axes, as in the authors'
    code (the weights themselves start unsymmetric).

    Deliberate departures from the authors' code: h_0 = 0 (theirs drew a random Xavier h_0 on
    every forward, so evaluation was stochastic). With h_0 = 0 the first step's inhibition is
    c1_0 = 0 (W_inh * (g1 . 0) = 0; a BN of that all-zero map would only add its offset), so
    step 0 has no BN1/BN2 and their parameters are not created.

    Norm rules (``norm``):

    * ``"per_step"`` (the paper): BN1..BN4 are separate per step for t < T (``norm_steps``, by
      default the trained steps; one :class:`StepList` entry each). For t >= T the paper's
      "soft restoration" (Sec. 5.2):
      a *freshly initialised* BN (weight 0.1, bias 0, running mean 0 / var 1, i.e. a scaling by
      0.1/sqrt(1 + eps) in eval mode, batch statistics in train mode), not part of the state
      dict. Weights trained for T steps load into a model built for any step count: the list
      takes the loaded step count, and steps beyond it are fresh.
    * ``"shared"``: one set BN1..BN4 used at every step (running statistics pooled over steps),
      so any number of steps runs with trained norms.
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel: int = 5,
        trained_steps: int = 15,
        norm_steps: int | None = None,
        norm: str = "per_step",
    ) -> None:
        """``trained_steps`` sets the chronos init of b_U1; ``norm_steps`` (default: ``trained_steps``)
        the number of per-step norm sets built (loading weights resizes it to theirs)."""
        super().__init__()
        if norm not in ("per_step", "shared"):
            raise UserError(f"unknown hConvGRU norm {norm!r}; choose per_step or shared")
        self.channels, self.pad, self.norm = channels, kernel // 2, norm
        c = channels
        self.u1 = nn.Conv2d(c, c, 1)
        self.u2 = nn.Conv2d(c, c, 1)
        self.w_inh = nn.Parameter(torch.empty(c, c, kernel, kernel))
        self.w_exc = nn.Parameter(torch.empty(c, c, kernel, kernel))
        for name, value in dict(alpha=0.1, mu=1.0, kappa=0.5, gamma=1.0, omega=0.5).items():
            self.register_parameter(name, nn.Parameter(torch.full((1, c, 1, 1), value)))
        with torch.no_grad():
            for w in (self.u1.weight, self.u2.weight, self.w_inh, self.w_exc):
                nn.init.orthogonal_(w)
            self.u1.bias.uniform_(1.0, float(max(trained_steps - 1, 1))).log_()
            self.u2.bias.copy_(-self.u1.bias)
        if norm == "per_step":
            self.step_norms = StepList(partial(_step_norms, c), norm_steps or trained_steps)
        else:
            self.shared_norms = _step_norms(c, 1)
        self.bn_out = nn.BatchNorm2d(c, eps=_BN_EPS)
        self.out_channels = c

    def _bn(self, t: int, which: str, x: torch.Tensor) -> torch.Tensor:
        if self.norm == "shared":
            return self.shared_norms[which](x)
        if t < len(self.step_norms):
            return self.step_norms[t][which](x)
        return fresh_bn(x, self.training)  # soft restoration beyond the trained steps

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"hConvGRU needs X with as many channels as h ({self.channels}), got {x.shape[1]}")
        return torch.zeros_like(x)

    def forward(self, X: torch.Tensor, h: torch.Tensor, t: int) -> torch.Tensor:
        w_inh, w_exc = _SymmetricGrad.apply(self.w_inh), _SymmetricGrad.apply(self.w_exc)
        if t == 0:  # h_{t-1} = h_0 = 0: c1 = 0, so n = ReLU(X)
            n = F.relu(X)
        else:
            g1 = torch.sigmoid(self._bn(t, "g1", self.u1(h)))
            c1 = self._bn(t, "c1", F.conv2d(g1 * h, w_inh, padding=self.pad))
            n = F.relu(X - F.relu(c1 * (self.alpha * h + self.mu)))
        g2 = torch.sigmoid(self._bn(t, "g2", self.u2(n)))
        c2 = self._bn(t, "c2", F.conv2d(n, w_exc, padding=self.pad))
        h_tilde = F.relu(self.kappa * n + self.gamma * c2 + self.omega * n * c2)
        return h + g2 * (h_tilde - h)  # (1 - g2) h + g2 h~ (not lerp: autocast may mix dtypes)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return self.bn_out(h)


# width (= hidden), kernel, trained steps: the authors' maze code (64, 5, 15); PathFinder:
# the paper's 9x9 kernel and 12 steps, width 32 = the Gabor stem (the authors' 38 crashed)
DEFAULTS = {
    "mazes": dict(width=64, kernel=5, steps=15),
    "pathfinder": dict(width=32, kernel=9, steps=12),
}


@register_model("hconvgru", defaults=DEFAULTS, paper_params={"mazes": 244_064})
def hconvgru(
    *,
    task: str,
    width: int,
    steps: int,
    kernel: int,
    norm: str = "batch",
    step_norm: str = "per_step",
    norm_steps: int | None = None,
) -> RecurrentNet:
    """hConvGRU with per-step BatchNorm; fresh BN beyond the trained steps (soft restoration).

    ``steps`` is the default call-time step count and sets the chronos init; ``norm_steps`` the
    number of per-step norm sets (default: ``steps``)."""
    cell = HConvGRUCell(width, kernel=kernel, trained_steps=steps, norm_steps=norm_steps, norm=step_norm)
    return recurrent_net(task, cell, width=width, steps=steps, norm=norm)


@register_model("hconvgru_shared", defaults=DEFAULTS)
def hconvgru_shared(*, task: str, width: int, steps: int, kernel: int, norm: str = "batch") -> RecurrentNet:
    """hConvGRU with one set of BatchNorms shared across steps (extrapolates with trained norms)."""
    return hconvgru(task=task, width=width, steps=steps, kernel=kernel, norm=norm, step_norm="shared")
