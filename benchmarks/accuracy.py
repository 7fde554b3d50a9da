"""Same training, two implementations: does the fast path learn as well as the fp32 oracle?

Both start from the same weights (the oracle copies the fused model's), see the same batches in
the same order with the same optimizer and schedule (the ``cpu`` preset's AdamW, warm-up and
cosine, clipping at 1), and are stepped alternately, so the wall time of each is also a fair
speed ratio. Each is then scored on the same held-out mazes as it would be used: the oracle in
fp32, the fast path under the runtime's automatic precision; the fast path's weights are also
scored by the fp32 oracle (what the precision changes at test time, on trained weights).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from speed import autocast, fast_dtype, precision_name

from locrnn.data.arrays import ArrayDataset, BatchLoader
from locrnn.data.mazes import generate_mazes
from locrnn.models import build_model
from locrnn.scoring import evaluate_steps
from locrnn.tasks import get_task
from oracle import PlainLocRNN


def _schedule(total: int, warmup: float = 0.05):
    warm = max(1, int(warmup * total))
    return lambda it: min(1.0, (it + 1) / warm) * 0.5 * (1 + np.cos(np.pi * min(1.0, it / total)))


def side_by_side(
    *, iterations: int = 240, size: int = 9, width: int = 32, batch: int = 32, n_val: int = 500, seed: int = 0
) -> list[dict]:
    task = get_task("mazes")
    x, y = generate_mazes(iterations * batch, size, seed=seed, split="train")
    xv, yv = generate_mazes(n_val, size, seed=seed, split="val")
    train, val = ArrayDataset(x, y), ArrayDataset(xv, yv)
    torch.manual_seed(seed)
    fast = build_model("locrnn", task="mazes", width=width)
    plain = PlainLocRNN(fast)
    runs = {"plain oracle, fp32": (plain, None), f"fused, {precision_name(fast_dtype())}": (fast, fast_dtype())}
    state = {}
    for name, (model, _) in runs.items():
        opt = torch.optim.AdamW(model.parameters(), 2e-3)
        state[name] = {
            "opt": opt,
            "sched": torch.optim.lr_scheduler.LambdaLR(opt, _schedule(iterations)),
            "seconds": 0.0,
            "losses": [],
        }
        model.train()
    for xb, yb in BatchLoader(train, batch, seed=seed).epoch(0):
        for name, (model, dtype) in runs.items():
            s = state[name]
            t0 = time.perf_counter()
            with autocast(dtype):
                loss = task.loss(model(xb), xb, yb)
            s["opt"].zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            s["opt"].step()
            s["sched"].step()
            s["seconds"] += time.perf_counter() - t0
            s["losses"].append(loss.item())
    rows = []
    # the fast path's trained weights, scored by the fp32 oracle: what bf16 changes at test time
    name, (model, dtype) = list(runs.items())[1]
    runs[f"{name} weights, scored by the fp32 oracle"] = (PlainLocRNN(model), None)
    state[f"{name} weights, scored by the fp32 oracle"] = {"seconds": None, "losses": []}
    fast_name = list(runs)[1]
    for name, (model, dtype) in runs.items():
        s = state[name]
        res = evaluate_steps(model, val, task, [model.trained_steps], batch_size=100, autocast=autocast(dtype))
        r = res[model.trained_steps]
        rows.append(
            {
                "run": name,
                "iterations": iterations,
                "train_seconds": s["seconds"],
                "final_loss": float(np.mean(s["losses"][-20:])) if s["seconds"] is not None else None,
                "val_accuracy": r["accuracy"],
                "val_pixel_accuracy": r.get("pixel_accuracy"),
                "n_val": r["n"],
                "same_pixels_as_fast": _same_pixels(model, dtype, *runs[fast_name], val),
            }
        )
    return rows


@torch.no_grad()
def _same_pixels(a, a_dtype, b, b_dtype, data: ArrayDataset) -> float:
    """Share of pixels where two models (each under its precision) predict the same class."""
    a.eval(), b.eval()
    same = total = 0
    for start in range(0, len(data), 100):
        x, _ = data.batch(np.arange(start, min(start + 100, len(data))))
        with autocast(a_dtype):
            pa = a(x).argmax(1)
        with autocast(b_dtype):
            pb = b(x).argmax(1)
        same += (pa == pb).sum().item()
        total += pa.numel()
    return same / total
