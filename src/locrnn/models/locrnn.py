"""LocRNN (the paper's Sec. 4.1) and the ablations of its Sec. 5.3."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io import UserError
from ._registry import register_model
from .base import RecurrentCell, RecurrentNet
from .layers import blend, grouped_pointwise, layer_norm, pixel_group_norm, recurrent_net

_ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "relu6": F.relu6}
# the same, in place: used on tensors the cell has just made and nothing else holds
_IN_PLACE = {"relu": torch.relu_, "tanh": torch.tanh_, "relu6": lambda x: F.relu6(x, inplace=True)}


class LocRNNCell(RecurrentCell):
    r"""LocRNN: two populations, L (long-range lateral) and S (short-range interneurons).

    With X the stem features, ``*`` convolution, LN a LayerNorm over (C,H,W), sigma the logistic
    function and gamma = kappa = ReLU (paper Eq. 1-6)::

        G^L_t = sigma( LN(U_lx * X) + LN(U_ll * L_{t-1}) )                      (1)
        G^S_t = sigma( LN(U_sx * X) + LN(U_ss * S_{t-1}) )                      (2)
        L~_t  = gamma( W_lx * X + W_ll * L_{t-1} + W_ls * S_{t-1} )             (3)
        S~_t  = gamma( W_sx * X + W_sl * L_{t-1} + W_ss * S_{t-1} )             (4)
        L_t   = kappa( LN( G^L_t . L~_t + (1 - G^L_t) . L_{t-1} ) )             (5)
        S_t   = kappa( LN( G^S_t . S~_t + (1 - G^S_t) . S_{t-1} ) )             (6)

    U_** are 1x1 convolutions, W_lx and W_sx 1x1, W_ll and W_ls ``long_kernel`` wide, W_sl and
    W_ss ``short_kernel`` wide. L_0 = S_0 = 0 (``init="zeros"``, the paper's text) or 1x1
    embeddings of X (``init="embed"``, the authors' maze code). The readout sees L only.

    Implementation (same equations, fewer passes over memory): the state is one tensor
    cat(L, S) of 2C channels, so W_ll*L + W_ls*S is one convolution of it, as is W_sl*L + W_ss*S,
    and U_ll|U_ss is one grouped 1x1 convolution (run as a batched matmul); every X term is one
    1x1 convolution computed once per forward (:meth:`prepare`); each pair of LayerNorms (one per population) is one
    group norm with a group per population. With ``init="zeros"`` the first step (``t == 0``,
    the state made by :meth:`init_state`) skips W_ll, W_ls, W_sl and W_ss: they see zeros and
    give their biases.

    Ablations (Sec. 5.3): ``use_s=False`` drops S; ``readout="ls"`` sends cat(L, S) to the
    readout; ``activation`` sets gamma and kappa (relu, tanh, relu6 = ReLU clipped at 6);
    ``gates=False`` fixes G = 1 (L_t = kappa(LN(L~_t))); ``layernorm=False`` removes every LN.

    Beyond the paper: ``norm_scope="pixel"`` makes every LN a layer norm over the population's
    channels at each pixel (:func:`pixel_group_norm`) instead of over (C, H, W): no step then
    depends on statistics of the whole image, so the same local rule runs on any maze size.
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int,
        *,
        long_kernel: int = 5,
        short_kernel: int = 3,
        use_s: bool = True,
        readout: str = "l",
        activation: str = "relu",
        gates: bool = True,
        layernorm: bool = True,
        init: str = "zeros",
        norm_scope: str = "image",
    ) -> None:
        super().__init__()
        if norm_scope not in ("image", "pixel"):
            raise UserError(f"norm_scope must be 'image' (LN over C, H, W) or 'pixel' (over C), got {norm_scope!r}")
        self.norm_scope = norm_scope
        if activation not in _ACTIVATIONS:
            raise UserError(f"unknown activation {activation!r}; choose {sorted(_ACTIVATIONS)}")
        if readout not in ("l", "ls") or (readout == "ls" and not use_s):
            raise UserError(f"readout must be 'l' or 'ls' (ls needs the S population), got {readout!r}")
        if init not in ("zeros", "embed"):
            raise UserError(f"init must be 'zeros' or 'embed', got {init!r}")
        self.hidden, self.use_s, self.readout, self.gates, self.init = hidden, use_s, readout, gates, init
        self.act, self._act_ = _ACTIVATIONS[activation], _IN_PLACE[activation]
        self.pops = 2 if use_s else 1
        c, p = hidden, self.pops
        # X terms, in this order: W_lx, W_sx, U_lx, U_sx (each present only if used)
        self.n_x_terms = p * (2 if gates else 1)
        self.w_x = nn.Conv2d(in_channels, c * self.n_x_terms, 1)
        self.w_l = nn.Conv2d(c * p, c, long_kernel, padding=long_kernel // 2)  # W_ll | W_ls
        if use_s:
            self.w_s = nn.Conv2d(c * p, c, short_kernel, padding=short_kernel // 2)  # W_sl | W_ss
        norm = layer_norm if layernorm else (lambda ch: nn.Identity())
        if gates:
            self.u_h = nn.Conv2d(c * p, c * p, 1, groups=p)  # U_ll | U_ss
            self.ln_ux = nn.ModuleList(norm(c) for _ in range(p))
            self.ln_uh = nn.ModuleList(norm(c) for _ in range(p))
        self.ln_out = nn.ModuleList(norm(c) for _ in range(p))
        if init == "embed":
            self.embed = nn.Conv2d(in_channels, c * p, 1)
        self.out_channels = c * (2 if readout == "ls" else 1)

    def _norm(self, x: torch.Tensor, norms: nn.ModuleList) -> torch.Tensor:
        """One LayerNorm per population, as a group norm with one group per population."""
        if isinstance(norms[0], nn.Identity):
            return x
        if len(norms) == 1 and self.norm_scope == "image":
            return norms[0](x)
        weight = torch.cat([n.weight for n in norms])
        bias = torch.cat([n.bias for n in norms])
        if self.norm_scope == "pixel":
            return pixel_group_norm(x, len(norms), weight, bias, norms[0].eps)
        return F.group_norm(x, len(norms), weight, bias, norms[0].eps)

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        split = self.hidden * self.pops
        terms = self.w_x(x)
        drive = terms[:, :split]  # W_lx * X | W_sx * X
        if not self.gates:
            return (drive,)
        return drive, self._norm(terms[:, split:], self.ln_ux)  # LN(U_lx * X) | LN(U_sx * X)

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        if self.init == "embed":
            return self.embed(x)
        return x.new_zeros(x.shape[0], self.hidden * self.pops, x.shape[2], x.shape[3])

    def _recurrent(self, LS: torch.Tensor, like: torch.Tensor, t: int) -> torch.Tensor:
        """W_ll * L + W_ls * S | W_sl * L + W_ss * S (bias included)."""
        convs = [self.w_l, self.w_s] if self.use_s else [self.w_l]
        if t == 0 and self.init == "zeros":  # L_0 = S_0 = 0: only the biases remain
            return torch.cat([c.bias for c in convs]).to(like.dtype)[:, None, None]
        out = [c(LS) for c in convs]
        return torch.cat(out, dim=1) if len(out) > 1 else out[0]

    def forward(self, drive: tuple[torch.Tensor, ...], state: torch.Tensor, t: int) -> torch.Tensor:
        LS = state  # cat(L_{t-1}, S_{t-1})
        candidates = self._act_(drive[0] + self._recurrent(LS, drive[0], t))  # L~_t | S~_t  (3), (4)
        if not self.gates:
            return self.act(self._norm(candidates, self.ln_out))
        G = torch.sigmoid(drive[1] + self._norm(grouped_pointwise(LS, self.u_h), self.ln_uh))  # G^L_t | G^S_t  (1), (2)
        return self._act_(self._norm(blend(LS, candidates, G), self.ln_out))  # L_t | S_t  (5), (6)

    def output(self, state: torch.Tensor) -> torch.Tensor:
        return state if self.readout == "ls" else state[:, : self.hidden]


# width, long kernel, short kernel, trained steps (paper appendix tables)
DEFAULTS = {
    "mazes": dict(width=64, long_kernel=5, short_kernel=3, steps=15),
    "pathfinder": dict(width=32, long_kernel=9, short_kernel=5, steps=12),
}


def _locrnn(
    task: str,
    *,
    width: int,
    steps: int,
    long_kernel: int,
    short_kernel: int,
    norm: str = "batch",
    hidden: int | None = None,
    **cell_args: Any,
) -> RecurrentNet:
    cell = LocRNNCell(width, hidden or width, long_kernel=long_kernel, short_kernel=short_kernel, **cell_args)
    return recurrent_net(task, cell, width=width, steps=steps, norm=norm)


@register_model("locrnn", defaults=DEFAULTS, paper_params={"mazes": 335_648, "pathfinder": 237_736})
def locrnn(
    *,
    task: str,
    width: int,
    steps: int,
    long_kernel: int,
    short_kernel: int,
    norm: str = "batch",
    init: str = "zeros",
    hidden: int | None = None,
    use_s: bool = True,
    readout: str = "l",
    activation: str = "relu",
    gates: bool = True,
    layernorm: bool = True,
    norm_scope: str = "image",
) -> RecurrentNet:
    """LocRNN as in the paper (Eq. 1-6): L and S populations, gates, LayerNorm, ReLU
    (``norm_scope="pixel"``: each LayerNorm over channels only, see :class:`LocRNNCell`)."""
    return _locrnn(**locals())


# The ablations (Sec. 5.3) fix one choice of LocRNN's; other choices combine through locrnn's arguments.


@register_model("locrnn_no_s", defaults=DEFAULTS)
def locrnn_no_s(
    *, task: str, width: int, steps: int, long_kernel: int, short_kernel: int, norm: str = "batch", init: str = "zeros"
) -> RecurrentNet:
    """Ablation: no S (interneuron) population."""
    return _locrnn(use_s=False, **locals())


@register_model("locrnn_no_s_2x", defaults=DEFAULTS)
def locrnn_no_s_2x(
    *, task: str, width: int, steps: int, long_kernel: int, short_kernel: int, norm: str = "batch", init: str = "zeros"
) -> RecurrentNet:
    """Ablation: no S population, L twice as wide (the paper's parameter match)."""
    return _locrnn(use_s=False, hidden=2 * width, **locals())


@register_model("locrnn_ls_readout", defaults=DEFAULTS)
def locrnn_ls_readout(
    *, task: str, width: int, steps: int, long_kernel: int, short_kernel: int, norm: str = "batch", init: str = "zeros"
) -> RecurrentNet:
    """Ablation: both L and S are sent to the readout (S is no longer an interneuron)."""
    return _locrnn(readout="ls", **locals())


@register_model("locrnn_tanh", defaults=DEFAULTS)
def locrnn_tanh(
    *, task: str, width: int, steps: int, long_kernel: int, short_kernel: int, norm: str = "batch", init: str = "zeros"
) -> RecurrentNet:
    """Ablation: tanh instead of ReLU for gamma and kappa."""
    return _locrnn(activation="tanh", **locals())


@register_model("locrnn_relu6", defaults=DEFAULTS)
def locrnn_relu6(
    *, task: str, width: int, steps: int, long_kernel: int, short_kernel: int, norm: str = "batch", init: str = "zeros"
) -> RecurrentNet:
    """Ablation: ReLU clipped at 6 for gamma and kappa."""
    return _locrnn(activation="relu6", **locals())


@register_model("locrnn_no_gates", defaults=DEFAULTS)
def locrnn_no_gates(
    *, task: str, width: int, steps: int, long_kernel: int, short_kernel: int, norm: str = "batch", init: str = "zeros"
) -> RecurrentNet:
    """Ablation: no gates (G = 1, the candidate replaces the state)."""
    return _locrnn(gates=False, **locals())


@register_model("locrnn_no_ln", defaults=DEFAULTS)
def locrnn_no_ln(
    *, task: str, width: int, steps: int, long_kernel: int, short_kernel: int, norm: str = "batch", init: str = "zeros"
) -> RecurrentNet:
    """Ablation: no LayerNorm anywhere in the cell."""
    return _locrnn(layernorm=False, **locals())
