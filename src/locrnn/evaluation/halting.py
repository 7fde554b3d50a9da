"""Halting at test time: each sample stops when its answer stops changing.

Rule ``prediction``: a sample halts at the first step t >= min_steps at which its prediction
(the thresholded maze, or the class) has been the same for ``patience`` consecutive steps; its
answer is that prediction. Rule ``state``: it halts when the relative change of the readout
state, ||h_t - h_{t-1}|| / ||h_t||, has stayed below ``tol`` for ``patience`` steps. A sample
that never halts answers at ``max_steps``. Rule ``act``: the model's learned halting head
(models/act.py, trained with ``--objective act``) decides; the answer is the halting-weighted
output. No step count is chosen by hand; the steps each sample used are reported.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..data.arrays import ArrayDataset
from ..io import UserError


@torch.no_grad()
def evaluate_halting(
    model,
    data: ArrayDataset,
    task,
    *,
    max_steps: int = 200,
    patience: int = 5,
    rule: str = "prediction",
    tol: float = 1e-3,
    min_steps: int = 1,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    autocast=None,
) -> dict[str, float | np.ndarray]:
    """Accuracy with per-sample halting; returns accuracy, mean/median steps and the steps used."""
    if rule not in ("prediction", "state", "act"):
        raise UserError(f"unknown halting rule {rule!r}; choose prediction, state or act")
    if not getattr(model, "recurrent", False):
        raise UserError("halting needs a recurrent model")
    was_training = model.training
    model.eval()
    correct, used = [], []
    for start in range(0, len(data), batch_size):
        x, y = data.batch(np.arange(start, min(start + batch_size, len(data))))
        x, y = x.to(device), y.to(device)
        if rule == "act":
            from ..models.act import act_forward

            with autocast if autocast is not None else contextlib.nullcontext():
                res = act_forward(model, x, max_steps)
            correct.append(task.correct_prediction(task.predict(res.logits.float(), x), x, y).cpu())
            used.append(res.steps.cpu())
            continue
        n = len(x)
        steps_used = torch.full((n,), max_steps, dtype=torch.long, device=device)
        answer = None
        stable = torch.zeros(n, dtype=torch.long, device=device)
        halted = torch.zeros(n, dtype=torch.bool, device=device)
        prev_pred = prev_h = None
        with autocast if autocast is not None else contextlib.nullcontext():
            for t, state in enumerate(model.states(x, max_steps), 1):
                logits, h = model.readout(state, return_features=True)
                logits, h = logits.float(), h.float()
                pred = task.predict(logits, x)
                if answer is None:
                    answer = pred.clone()
                live = ~halted
                answer[live] = pred[live]
                if rule == "prediction":
                    if prev_pred is None:
                        same = torch.zeros_like(halted)
                    else:  # a class per sample (PathFinder) or a map per sample (mazes)
                        same = (pred == prev_pred).reshape(n, -1).all(1)
                else:
                    if prev_h is None:
                        same = torch.zeros_like(halted)
                    else:
                        change = (h - prev_h).flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1).clamp_min(1e-6)
                        same = change < tol
                stable = torch.where(same, stable + 1, torch.zeros_like(stable))
                stop = live & (stable >= patience) & (t >= min_steps)
                steps_used[stop] = t
                halted |= stop
                prev_pred, prev_h = pred, h
                if halted.all():
                    break
        correct.append(task.correct_prediction(answer, x, y).cpu())
        used.append(steps_used.cpu())
    model.train(was_training)
    correct_t, used_t = torch.cat(correct), torch.cat(used).numpy()
    return {
        "accuracy": correct_t.float().mean().item(),
        "mean_steps": float(used_t.mean()),
        "median_steps": float(np.median(used_t)),
        "n": len(used_t),
        "halted_share": float((used_t < max_steps).mean()),
        "steps_used": used_t,
    }
