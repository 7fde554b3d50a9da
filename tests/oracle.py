"""A plain, unfused, eager fp32 LocRNN written straight from the paper's Eq. 1-6 (the numerical oracle).

Every term of Eq. 1-6 is its own convolution with its own weight, computed at every step as
printed (the X terms too), with no fusion, no precision tricks and no compilation. It is used

* by ``tests/test_models.py`` to check that the fused cell computes the same equations, and
* by ``benchmarks/`` as the baseline every speed figure is a ratio against (:class:`PlainLocRNN`
  is a whole model: the same stem and head, the cell's weights split term by term).
"""

from __future__ import annotations

import copy
from collections import deque

import torch
import torch.nn as nn
import torch.nn.functional as F

# the paper's names of the cell's terms, in the order of the fused cell's X convolution
X_TERMS = ("W_lx", "W_sx", "U_lx", "U_sx")


def _conv(x, w, b, pad):
    return F.conv2d(x, w, b, padding=pad)


def _ln(mod, x):
    return F.group_norm(x, 1, mod.weight, mod.bias, mod.eps)


def _cell_terms(cell) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """The fused cell's weights as one (weight, bias) per term of Eq. 1-6 (views, not copies)."""
    if not (cell.use_s and cell.gates and cell.init == "zeros"):
        raise ValueError("the oracle covers the full LocRNN (S population, gates, zero initial state)")
    C = cell.hidden
    x_w, x_b = cell.w_x.weight.split(C, 0), cell.w_x.bias.split(C, 0)
    terms = {name: (w, b) for name, w, b in zip(X_TERMS, x_w, x_b)}
    W_ll, W_ls = cell.w_l.weight.split(C, 1)
    W_sl, W_ss = cell.w_s.weight.split(C, 1)
    terms.update(W_ll=(W_ll, cell.w_l.bias), W_ls=(W_ls, None), W_sl=(W_sl, cell.w_s.bias), W_ss=(W_ss, None))
    u_w, u_b = cell.u_h.weight.split(C, 0), cell.u_h.bias.split(C, 0)
    terms.update(U_ll=(u_w[0], u_b[0]), U_ss=(u_w[1], u_b[1]))
    return terms


def _cell_norms(cell) -> dict[str, nn.GroupNorm]:
    return {
        "LN_lx": cell.ln_ux[0],
        "LN_sx": cell.ln_ux[1],
        "LN_ll": cell.ln_uh[0],
        "LN_ss": cell.ln_uh[1],
        "LN_l": cell.ln_out[0],
        "LN_s": cell.ln_out[1],
    }


def oracle_locrnn_states(cell, X: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """L_t for t = 1..steps from a full LocRNN cell (zeros init, gates, LN, ReLU)."""
    kernels = cell.w_l.kernel_size[0], cell.w_s.kernel_size[0]
    return [L for L, _ in _plain_steps(_cell_terms(cell), _cell_norms(cell), cell.hidden, kernels, X, steps)]


def _plain_steps(w, n, hidden: int, kernels: tuple[int, int], X: torch.Tensor, steps: int):
    """Eq. 1-6, term by term. ``w``: name -> (weight, bias); ``n``: name -> GroupNorm."""
    kl, ks = kernels[0] // 2, kernels[1] // 2
    L = X.new_zeros(X.shape[0], hidden, *X.shape[2:])
    S = torch.zeros_like(L)
    for _ in range(steps):
        G_L = torch.sigmoid(_ln(n["LN_lx"], _conv(X, *w["U_lx"], 0)) + _ln(n["LN_ll"], _conv(L, *w["U_ll"], 0)))  # (1)
        G_S = torch.sigmoid(_ln(n["LN_sx"], _conv(X, *w["U_sx"], 0)) + _ln(n["LN_ss"], _conv(S, *w["U_ss"], 0)))  # (2)
        L_tilde = F.relu(_conv(X, *w["W_lx"], 0) + _conv(L, *w["W_ll"], kl) + _conv(S, *w["W_ls"], kl))  # (3)
        S_tilde = F.relu(_conv(X, *w["W_sx"], 0) + _conv(L, *w["W_sl"], ks) + _conv(S, *w["W_ss"], ks))  # (4)
        L, S = (
            F.relu(_ln(n["LN_l"], G_L * L_tilde + (1 - G_L) * L)),  # (5)
            F.relu(_ln(n["LN_s"], G_S * S_tilde + (1 - G_S) * S)),  # (6)
        )
        yield L, S


class PlainLocRNN(nn.Module):
    """A whole LocRNN model (stem, plain cell, head) holding a copy of ``model``'s weights.

    The cell's weights are split into one parameter per term of Eq. 1-6 (``W_ll``, ``W_ls``,
    ``U_lx``, ...), so training it updates each term on its own, as a from-the-paper
    implementation would. :meth:`export_to` writes the weights back into a fused model.
    """

    recurrent = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        cell = model.cell
        terms = _cell_terms(cell)  # raises for cells the oracle does not cover
        self.stem, self.head = copy.deepcopy(model.stem), copy.deepcopy(model.head)
        self.trained_steps = model.trained_steps
        self.in_channels = model.in_channels
        self.hidden = cell.hidden
        self._kernels = (cell.w_l.kernel_size[0], cell.w_s.kernel_size[0])
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        for name, (wt, b) in terms.items():
            self.weights[name] = nn.Parameter(wt.detach().clone())
            if b is not None:
                self.biases[name] = nn.Parameter(b.detach().clone())
        self.norms = nn.ModuleDict({k: copy.deepcopy(v) for k, v in _cell_norms(cell).items()})

    def _terms(self):
        return {k: (w, self.biases[k] if k in self.biases else None) for k, w in self.weights.items()}

    def states(self, x: torch.Tensor, steps: int | None = None):
        X = self.stem(x)
        yield from _plain_steps(self._terms(), self.norms, self.hidden, self._kernels, X, steps or self.trained_steps)

    def iterate(self, x: torch.Tensor, steps: int | None = None):
        for L, _ in self.states(x, steps):
            yield self.head(L)

    def forward(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        L, _ = deque(self.states(x, steps), maxlen=1)[0]
        return self.head(L)

    @torch.no_grad()
    def export_to(self, model: nn.Module) -> nn.Module:
        """Copy these weights into a fused LocRNN ``model`` of the same shape; return it."""
        model.stem.load_state_dict(self.stem.state_dict())
        model.head.load_state_dict(self.head.state_dict())
        for name, (wt, b) in _cell_terms(model.cell).items():
            wt.copy_(self.weights[name])
            if b is not None:
                b.copy_(self.biases[name])
        for name, norm in _cell_norms(model.cell).items():
            norm.load_state_dict(self.norms[name].state_dict())
        return model
