"""``locrnn demo``: train LocRNN on small mazes on this machine, then sweep 9/11/13 over steps.

Training has a time budget (``TrainConfig.time_budget``): the learning-rate schedule is stretched
over the minutes given and training stops when they are spent, so the demo ends on time on slow
and fast machines; a faster machine simply sees more of the fresh mazes.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from .evaluation.extrapolation import summary_table, sweep_checkpoint
from .training.config import make_config
from .training.trainer import train

TRAIN_STEPS = 15
N_TRAIN = 100_000  # an upper bound: the time budget ends training first on a CPU
SIZES = (9, 11, 13)


def run_demo(out: Path = Path("runs"), minutes: float = 6.5, n_test: int = 300, seed: int = 0, log=print) -> dict:
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
    cfg.time_budget = minutes * 60
    cfg.n_train = N_TRAIN
    log(
        f"locrnn demo: LocRNN (width {cfg.model_args['width']}, {TRAIN_STEPS} steps) learns to solve 9x9 mazes "
        f"for {minutes:g} min on this machine (fresh mazes, each seen once), then is tested at every step "
        f"count from 1 to {4 * TRAIN_STEPS} on sizes {', '.join(map(str, SIZES))} (11 and 13 never seen in training)."
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
