"""``locrnn demo``: train LocRNN on small mazes on this machine, then sweep 9/11/13 over steps.

The training budget is given in minutes; the demo times a few training steps first and sizes the
training set (fresh mazes, each seen once) to fit, so it ends on time on slow and fast machines.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import torch

from .data.mazes import generate_mazes
from .evaluation.extrapolation import summary_table, sweep_checkpoint
from .training.config import make_config
from .training.runtime import setup
from .training.tasks import get_task
from .training.trainer import build_for, make_optimizer, train

TRAIN_STEPS = 15
SIZES = (9, 11, 13)


def measure_rate(cfg, iterations: int = 3) -> float:
    """Training images per second of ``cfg``'s model on this machine (a short timed run)."""
    rt = setup(cfg.device, cfg.precision)
    task = get_task(cfg.task)
    model = build_for(cfg).to(rt.device)
    opt = make_optimizer(model, cfg)
    x, y = generate_mazes(cfg.batch_size, cfg.size, seed=12345, split="val")
    x, y = torch.from_numpy(x).float().to(rt.device), torch.from_numpy(y).long().to(rt.device)
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        with rt.autocast():
            loss = task.loss(model(x), x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return cfg.batch_size / min(times[1:])


def run_demo(out: Path = Path("runs"), minutes: float = 7.0, n_test: int = 500, seed: int = 0, log=print) -> dict:
    start = time.time()
    name = f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    cfg = make_config(
        "cpu",
        task="mazes",
        size=9,
        model="locrnn",
        steps=TRAIN_STEPS,
        out=str(out),
        name=name,
        seed=seed,
        data_seed=seed,
    )
    rate = measure_rate(cfg)
    budget = minutes * 60
    n_train = int(rate * budget * 0.97) // cfg.batch_size * cfg.batch_size
    cfg.n_train = max(cfg.batch_size * 20, min(n_train, 200_000))
    cfg.val_every = max(1, cfg.n_train // cfg.batch_size // 4)
    log(
        f"locrnn demo: LocRNN (width {cfg.model_args['width']}, {TRAIN_STEPS} steps) learns to solve "
        f"9x9 mazes on this machine.\n  measured {rate:.0f} training images/s -> {cfg.n_train} fresh "
        f"mazes in about {cfg.n_train / rate / 60:.1f} min; then accuracy vs test-time steps "
        f"on sizes {', '.join(map(str, SIZES))} (sizes 11 and 13 are never seen in training)."
    )
    run_dir = train(cfg, argv=["locrnn", "demo"], log=log)
    steps = list(range(1, 4 * TRAIN_STEPS + 1))
    rows, sweep_dir = sweep_checkpoint(run_dir, difficulties=list(SIZES), steps=steps, n=n_test, seed=seed)
    log(
        "\nExact-match accuracy (%) of whole mazes by test-time steps "
        f"(trained with {TRAIN_STEPS}; {n_test} test mazes per size):"
    )
    log(summary_table(rows))
    acc = {(r["difficulty"], r["steps"]): r["accuracy"] for r in rows}
    hard = max(SIZES)
    best_hard = max(steps, key=lambda s: (acc[(hard, s)], -s))
    verdict = {
        "size9_at_trained": acc[(9, TRAIN_STEPS)],
        f"size{hard}_at_trained": acc[(hard, TRAIN_STEPS)],
        f"size{hard}_best": acc[(hard, best_hard)],
        f"size{hard}_best_steps": best_hard,
        "minutes": (time.time() - start) / 60,
    }
    gain = acc[(hard, best_hard)] - acc[(hard, TRAIN_STEPS)]
    log(
        f"\nOn {hard}x{hard} mazes (never seen) the model is best at {best_hard} steps: "
        f"{100 * acc[(hard, best_hard)]:.1f}% vs {100 * acc[(hard, TRAIN_STEPS)]:.1f}% at the trained "
        f"{TRAIN_STEPS} steps ({'+' if gain >= 0 else ''}{100 * gain:.1f} points by thinking longer)."
    )
    log(
        f"run folder: {run_dir}\nplot: {sweep_dir / 'sweep.png'}\ntable: {sweep_dir / 'sweep.csv'}\n"
        f"total time {verdict['minutes']:.1f} min"
    )
    return verdict
