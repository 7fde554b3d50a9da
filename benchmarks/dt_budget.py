"""dt_recall at LocRNN's CPU budget (issue #18 item 3): the width whose convolution FLOPs per step
match LocRNN's quick model, and the training images that match the contractive LocRNN's training
FLOPs, both counted by ``torch.utils.flop_counter`` on 9x9 mazes (24x24 px).

* **per step**: the FLOPs of one more step of the forward pass (``steps=T+1`` minus ``steps=T``,
  no gradients), per image. FlopCounterMode counts matrix products and convolutions only
  (2 per multiply-add): LocRNN's gates, LayerNorms and activations are not in it.
* **per training image**: the objective's loss and its backward pass (``objective_loss``, the
  trainer's own step) for ``--draws`` batches of one image with the run's random draws (the
  progressive loss draws its n and k per batch), averaged; validation is not counted.
* **budget**: the contractive LocRNN is ``fixedpoint`` (its images) then the ``contractive``
  fine-tune (its images), at their quick recipes (reproduce/recipes.py). dt_recall's images are
  that total over its own FLOPs per training image at the chosen width.

    PYTHONPATH=src .venv/bin/python benchmarks/dt_budget.py [--draws 60] [--width W]
"""

from __future__ import annotations

import argparse
import dataclasses
import random

import torch
from _common import count_flops

from locrnn.data.mazes import generate_mazes
from locrnn.reproduce.figures import Run
from locrnn.reproduce.recipes import recipe
from locrnn.tasks import get_task
from locrnn.training.config import TrainConfig
from locrnn.training.objectives import objective_loss
from locrnn.training.trainer import build_for

SIZE = 9


def _mazes(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = generate_mazes(n, SIZE, seed=0, split="train", workers=1)
    return torch.as_tensor(x).float(), torch.as_tensor(y).long()


def step_flops(cfg: TrainConfig, x: torch.Tensor) -> int:
    """Convolution / matmul FLOPs of one step of ``cfg``'s model on one image."""
    model = build_for(cfg).eval()
    t = model.trained_steps
    with torch.no_grad():
        return count_flops(lambda: model(x[:1], steps=t + 1)) - count_flops(lambda: model(x[:1], steps=t))


def train_flops(cfg: TrainConfig, x: torch.Tensor, y: torch.Tensor, draws: int) -> float:
    """Mean FLOPs of one training image under ``cfg``'s objective (forward and backward)."""
    model = build_for(cfg).train()
    task, rng, total = get_task("mazes"), random.Random(cfg.seed), 0
    for i in range(draws):
        xi, yi = x[i % len(x)][None], y[i % len(y)][None]

        def one(xi: torch.Tensor = xi, yi: torch.Tensor = yi) -> None:
            model.zero_grad(set_to_none=True)
            objective_loss(model, xi, yi, task, cfg, rng).backward()

        total += count_flops(one)
    return total / draws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=60, help="training batches (of one image) averaged per recipe")
    ap.add_argument("--width", type=int, default=None, help="dt_recall's width (default: the matched one)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = _mazes(args.draws)
    locrnn = {v: recipe(Run("locrnn", "mazes", SIZE, 0, v), "quick") for v in ("fixedpoint", "contractive")}
    dt = recipe(Run("dt_recall", "mazes", SIZE, 0, "deepthinking"), "quick")
    loc_step = step_flops(locrnn["fixedpoint"], x)
    print(f"LocRNN width {locrnn['fixedpoint'].model_args['width']}: {loc_step / 1e6:.2f} MFLOP per step per image")
    widths = {}
    for w in range(8, 65):
        cfg = with_width(dt, w)
        widths[w] = step_flops(cfg, x)
    best = args.width or min(widths, key=lambda w: abs(widths[w] - loc_step))
    for w in sorted(widths):
        if abs(w - best) <= 2:
            print(f"dt_recall width {w}: {widths[w] / 1e6:.2f} MFLOP per step ({widths[w] / loc_step:.2f}x LocRNN)")
    budget = 0.0
    for v, cfg in locrnn.items():
        per = train_flops(cfg, x, y, args.draws)
        budget += per * cfg.n_train
        print(f"LocRNN {v}: {per / 1e9:.3f} GFLOP per training image x {cfg.n_train} images")
    print(f"LocRNN contractive in all: {budget / 1e12:.2f} TFLOP of training")
    cfg = with_width(dt, best)
    per = train_flops(cfg, x, y, args.draws)
    n = budget / per
    print(f"dt_recall width {best}: {per / 1e9:.3f} GFLOP per training image -> {n:.0f} images at that budget")


def with_width(cfg: TrainConfig, width: int) -> TrainConfig:
    """``cfg`` with dt_recall's width set to ``width``."""
    return dataclasses.replace(cfg, model_args={**cfg.model_args, "width": width})


if __name__ == "__main__":
    main()
