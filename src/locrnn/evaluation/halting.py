"""Halting at test time: each sample stops when its answer stops changing.

Rule ``prediction``: a sample halts at the first step t >= min_steps at which its prediction
(the thresholded maze, or the class) has been the same for ``patience`` consecutive steps; its
answer is that prediction. Rule ``state``: it halts when the relative change of the readout
state, ||h_t - h_{t-1}|| / ||h_t||, has stayed below ``tol`` for ``patience`` steps. A sample
that never halts answers at ``max_steps``. Rule ``act``: the model's learned halting head
(models/act.py, trained with ``--objective act``) decides; the answer is the halting-weighted
output. No step count is chosen by hand; the steps each sample used are reported.

Compute follows the samples still running: a sample that halts is dropped from the batch (its
drive and state with it, ``models.base.select_samples``), so a batch whose samples mostly halt
early costs what its slow samples cost, and the answers are those of running the whole batch to
the end. No graph and no past states are kept: memory does not grow with the steps.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..data.arrays import ArrayDataset
from ..io import UserError
from ..models.base import select_samples
from ..scoring import StepBar


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
    progress: bool = False,
    desc: str = "",
) -> dict[str, float | np.ndarray]:
    """Accuracy with per-sample halting; returns accuracy, mean/median steps, the share of samples
    that halted before ``max_steps`` and their accuracy, and the steps each sample used.

    With ``progress``, a bar over image-steps shows the step, the samples running and left, and
    an ETA (an upper bound: every running sample is assumed to go on to ``max_steps``)."""
    if rule not in ("prediction", "state", "act"):
        raise UserError(f"unknown halting rule {rule!r}; choose prediction, state or act")
    if not getattr(model, "recurrent", False):
        raise UserError("halting needs a recurrent model")
    was_training = model.training
    model.eval()
    bar = StepBar(len(data), max_steps, desc=desc or f"halting ({rule})") if progress else None
    correct, used = [], []
    try:
        for start in range(0, len(data), batch_size):
            x, y = data.batch(np.arange(start, min(start + batch_size, len(data))))
            x, y = x.to(device), y.to(device)
            with autocast if autocast is not None else contextlib.nullcontext():
                if rule == "act":
                    from ..models.act import act_forward

                    res = act_forward(model, x, max_steps)
                    answer, steps_used = task.predict(res.logits.float(), x), res.steps
                    if bar is not None:
                        bar.ran(steps_used)
                else:
                    answer, steps_used = _halt_batch(model, x, task, max_steps, patience, rule, tol, min_steps, bar)
            correct.append(task.correct_prediction(answer, x, y).cpu())
            used.append(steps_used.cpu())
            if bar is not None:
                bar.finish(0)  # every sample has stopped: the next batch starts at step 0
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    correct_t, used_t = torch.cat(correct), torch.cat(used).numpy()
    halted = used_t < max_steps
    return {
        "accuracy": correct_t.float().mean().item(),
        "mean_steps": float(used_t.mean()),
        "median_steps": float(np.median(used_t)),
        "n": len(used_t),
        "halted_share": float(halted.mean()),
        # right answers among the samples that halted before the budget (nan: none did): a model
        # that settles on wrong answers shows here, one that never settles in halted_share
        "halted_accuracy": float(correct_t.numpy()[halted].mean()) if halted.any() else float("nan"),
        "steps_used": used_t,
    }


def _halt_batch(
    model, x: torch.Tensor, task, max_steps: int, patience: int, rule: str, tol: float, min_steps: int, bar
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one batch with halting, dropping each sample once it halts; return every sample's
    answer and the steps it used. Rule ``prediction`` reads out at every step (it compares
    answers); rule ``state`` compares what the head sees and reads out only where a sample stops."""
    n = len(x)
    steps_used = torch.full((n,), max_steps, dtype=torch.long, device=x.device)
    answer = None
    ids = torch.arange(n, device=x.device)  # the batch positions of the samples still running
    stable = torch.zeros(n, dtype=torch.long, device=x.device)
    xs, prev = x, None  # prev: the previous prediction (rule prediction) or readout features (state)
    drive, state = model.prepare(x)
    for t in range(1, max_steps + 1):
        state = model.step(drive, state, t - 1)
        if rule == "prediction":
            cur = task.predict(model.readout(state).float(), xs)
        else:
            cur = model.cell.output(state).float()
        if prev is None:
            same = torch.zeros(len(ids), dtype=torch.bool, device=x.device)
        elif rule == "prediction":  # a class per sample (PathFinder) or a map per sample (mazes)
            same = (cur == prev).reshape(len(ids), -1).all(1)
        else:
            change = (cur - prev).flatten(1).norm(dim=1) / cur.flatten(1).norm(dim=1).clamp_min(1e-6)
            same = change < tol
        stable = torch.where(same, stable + 1, torch.zeros_like(stable))
        stop = (stable >= patience) & (t >= min_steps)
        if t == max_steps:
            stop = torch.ones_like(stop)
        if bar is not None:
            bar.advance(1, len(ids))
        if not stop.any():
            prev = cur
            continue
        if rule == "prediction":
            pred = cur[stop]
        else:
            pred = task.predict(model.readout(select_samples(state, stop)).float(), xs[stop])
        if answer is None:
            answer = torch.empty((n, *pred.shape[1:]), dtype=pred.dtype, device=x.device)
        answer[ids[stop]] = pred
        steps_used[ids[stop]] = t
        if bar is not None:
            bar.stop(int(stop.sum()))
        keep = ~stop
        if not keep.any():
            break
        ids, stable, prev, xs = ids[keep], stable[keep], cur[keep], xs[keep]
        drive, state = select_samples(drive, keep), select_samples(state, keep)
    return answer, steps_used
