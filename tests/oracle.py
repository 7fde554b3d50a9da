"""A plain, unfused fp32 LocRNN written straight from the paper's Eq. 1-6 (the numerical oracle).

It reuses the weights of a ``LocRNNCell`` but computes every term separately, as printed.
"""

import torch
import torch.nn.functional as F


def _conv(x, w, b, pad):
    return F.conv2d(x, w, b, padding=pad)


def _ln(mod, x):
    return F.group_norm(x, 1, mod.weight, mod.bias, mod.eps)


def oracle_locrnn_states(cell, X: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """L_t for t = 1..steps from a full LocRNN cell (zeros init, gates, LN, ReLU)."""
    C = cell.hidden
    Wx, bx = cell.w_x.weight, cell.w_x.bias
    W_lx, W_sx, U_lx, U_sx = Wx.split(C, 0)
    b_lx, b_sx, b_ulx, b_usx = bx.split(C, 0)
    W_ll, W_ls = cell.w_l.weight.split(C, 1)
    W_sl, W_ss = cell.w_s.weight.split(C, 1)
    U_ll, U_ss = cell.u_h.weight.split(C, 0)
    b_ull, b_uss = cell.u_h.bias.split(C, 0)
    kl, ks = cell.w_l.kernel_size[0] // 2, cell.w_s.kernel_size[0] // 2
    L = torch.zeros(X.shape[0], C, *X.shape[2:])
    S = torch.zeros_like(L)
    out = []
    for _ in range(steps):
        G_L = torch.sigmoid(_ln(cell.ln_ux[0], _conv(X, U_lx, b_ulx, 0)) + _ln(cell.ln_uh[0], _conv(L, U_ll, b_ull, 0)))
        G_S = torch.sigmoid(_ln(cell.ln_ux[1], _conv(X, U_sx, b_usx, 0)) + _ln(cell.ln_uh[1], _conv(S, U_ss, b_uss, 0)))
        L_tilde = F.relu(_conv(X, W_lx, b_lx, 0) + _conv(L, W_ll, cell.w_l.bias, kl) + _conv(S, W_ls, None, kl))
        S_tilde = F.relu(_conv(X, W_sx, b_sx, 0) + _conv(L, W_sl, cell.w_s.bias, ks) + _conv(S, W_ss, None, ks))
        L, S = (
            F.relu(_ln(cell.ln_out[0], G_L * L_tilde + (1 - G_L) * L)),
            F.relu(_ln(cell.ln_out[1], G_S * S_tilde + (1 - G_S) * S)),
        )
        out.append(L)
    return out
