"""``locrnn demo``: train LocRNN on 9x9 mazes on this machine, then sweep sizes 9/11/13 over steps.

The work is bounded by what must be learned, not by the clock: at most ``n_train`` fresh mazes,
validated every ``VAL_EVERY`` images at every trained step count (``TRAIN_RANGE``), and training
stops as soon as the best of them reaches ``STOP_AT`` (a model trained over a range of step
counts is judged at its best one, as the sweep judges it: validation at 15 alone lags by 1-3k
images, a minute or two on an AVX2-only CPU). The recipe (batch 8, AdamW 2e-3, cosine over
``n_train``) is the most sample efficient one measured on a CPU (docs/cpu.md), so that a CPU
without fast bf16 (fp32 only) learns the task in the same images as one with it; a faster machine
simply finishes sooner. Each batch unrolls a step count drawn from ``TRAIN_RANGE`` (12-18, 15 on
average: the cost of 15 fixed steps), which keeps the answer steady for a few steps past training,
so that on larger mazes the model goes on improving where a fixed 15-step model has already
started to decay (docs/cpu.md).

The gain of thinking longer is measured against the best accuracy at *any* trained step count,
so the steps within ``TRAIN_RANGE`` never count as extrapolation.

A run that did not learn (below ``LEARNED`` of held-out 9x9 mazes at its best step) is reported as such: its sweep is no
evidence of extrapolation, and the demo says so instead of quoting a gain.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from .evaluation.extrapolation import sweep_checkpoint
from .evaluation.spec import SweepSpec
from .evaluation.tables import summary_table
from .io import load_json
from .training.config import make_config
from .training.trainer import train

TRAIN_STEPS = 15  # the model's default step count: the mean of TRAIN_RANGE, and where it is validated
TRAIN_RANGE = (12, 18)  # unroll lengths drawn per batch in training (objective random_steps)
TRAINED = f"{TRAIN_RANGE[0]}-{TRAIN_RANGE[1]}"  # how messages name the trained step counts
SIZE = 9
WIDTH = 32
BATCH = 8
N_TRAIN = 12_000  # the most fresh mazes seen; training stops earlier at STOP_AT
N_VAL = 200
VAL_EVERY = 1_000  # images between validations (each ~4 s on a 2-core AVX2 CPU, 8% of the interval)
STOP_AT = 0.97  # validation accuracy at the best trained step count at which training stops
LEARNED = 0.90  # below this share of held-out 9x9 mazes at the best step the run has not learned the task
SIZES = (9, 11, 13)
SWEEP_STEPS = 3 * TRAIN_STEPS  # past the best step of 13x13 mazes and into the decline beyond it


def demo_config(out: Path, name: str, seed: int, n_train: int = N_TRAIN, minutes: float | None = None):
    """The demo's training recipe as a TrainConfig (the ``cpu`` preset with a small batch)."""
    return make_config(
        "cpu",
        task="mazes",
        size=SIZE,
        model="locrnn",
        model_args={"width": WIDTH},
        steps=TRAIN_STEPS,
        objective="random_steps",
        min_steps=TRAIN_RANGE[0],
        max_steps=TRAIN_RANGE[1],
        n_train=n_train,
        n_val=N_VAL,
        batch_size=BATCH,
        val_every=max(1, VAL_EVERY // BATCH),
        val_steps=list(range(TRAIN_RANGE[0], TRAIN_RANGE[1] + 1)),
        val_score="max",
        stop_at=STOP_AT,
        time_budget=None if minutes is None else minutes * 60,
        precision="auto",
        out=str(out),
        name=name,
        seed=seed,
        data_seed=seed,
    )


def run_demo(
    out: Path = Path("runs"),
    n_train: int = N_TRAIN,
    n_test: int = 200,
    seed: int = 0,
    minutes: float | None = None,
    log=print,
) -> dict:
    """Train, sweep and judge; returns the numbers behind the verdict (``learned`` first)."""
    start = time.time()
    name = f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    cfg = demo_config(out, name, seed, n_train, minutes)
    log(
        f"locrnn demo: LocRNN (width {WIDTH}, {TRAINED} steps) learns to solve {SIZE}x{SIZE} mazes from at most "
        f"{n_train:,} fresh mazes (stopping once {100 * STOP_AT:.0f}% of {N_VAL} validation mazes are solved at a "
        "trained step count), then "
        f"is tested at every step count from 1 to {SWEEP_STEPS} on sizes {', '.join(map(str, SIZES))} "
        f"(11 and 13 never seen in training)."
    )
    run_dir = train(cfg, argv=["locrnn", "demo"], log=log)
    summary = load_json(run_dir / "summary.json")
    best_val, images = summary["best_val_accuracy"], summary["images"]
    steps = list(range(1, SWEEP_STEPS + 1))
    rows, sweep_dir = sweep_checkpoint(SweepSpec(run_dir, difficulties=SIZES, steps=steps, n=n_test, seed=seed))
    log(
        "\nExact-match accuracy (%) of whole mazes by test-time steps "
        f"(trained with {TRAINED}; {n_test} test mazes per size):"
    )
    log(summary_table(rows))
    log(f"(@trained: at {TRAIN_STEPS} steps, the mean of the trained {TRAINED}; the verdict takes the best of them)")
    verdict, message = judge(rows, best_val, images, n_train)
    log("\n" + message)
    verdict["minutes"] = (time.time() - start) / 60
    log(
        f"run folder: {run_dir}\nplot: {sweep_dir / 'sweep.png'}\ntable: {sweep_dir / 'sweep.csv'}\n"
        f"total time {verdict['minutes']:.1f} min"
    )
    return verdict


def judge(rows: list[dict], best_val: float, images: int, n_train: int = N_TRAIN) -> tuple[dict, str]:
    """The demo's verdict from its sweep rows: did the run learn, and what did thinking longer give
    on the hardest size. A run below ``LEARNED`` is never presented as showing the effect."""
    acc = {(r["difficulty"], r["steps"]): r["accuracy"] for r in rows}
    steps = sorted({s for _, s in acc})
    easy, hard = min(SIZES), max(SIZES)

    def best(size: int, among: list[int] = steps) -> int:
        return max(among, key=lambda s: (acc[(size, s)], -s))

    trained = [s for s in steps if TRAIN_RANGE[0] <= s <= TRAIN_RANGE[1]]
    verdict = {
        "learned": acc[(easy, best(easy))] >= LEARNED,
        "best_val_accuracy": best_val,
        "train_images": images,
        f"size{easy}_best": acc[(easy, best(easy))],
        f"size{hard}_at_trained": acc[(hard, best(hard, trained))],  # the best of the trained step counts
        f"size{hard}_at_trained_steps": best(hard, trained),
        f"size{hard}_best": acc[(hard, best(hard))],
        f"size{hard}_best_steps": best(hard),
    }
    at_t, top = verdict[f"size{hard}_at_trained"], verdict[f"size{hard}_best"]
    gain = top - at_t
    if not verdict["learned"]:
        return verdict, (
            f"The model did NOT learn the task: after {images:,} training mazes it solves at most "
            f"{100 * verdict[f'size{easy}_best']:.1f}% of held-out {easy}x{easy} mazes at any step count (a learned "
            f"run solves {100 * LEARNED:.0f}%; validation at its best trained step count: {100 * best_val:.1f}%). "
            "The sweep above is therefore no "
            f"evidence of extrapolation. Train on more mazes (locrnn demo --n-train {2 * n_train}) or see "
            "docs/cpu.md."
        )
    return verdict, (
        f"Learned from {images:,} training mazes: {100 * verdict[f'size{easy}_best']:.1f}% of held-out {easy}x{easy} "
        f"mazes at {best(easy)} steps (validation at its best trained step count: {100 * best_val:.1f}%). "
        f"On {hard}x{hard} mazes (never seen) the model is best at {verdict[f'size{hard}_best_steps']} steps: "
        f"{100 * top:.1f}% vs {100 * at_t:.1f}% at {verdict[f'size{hard}_at_trained_steps']} steps, the best of its "
        f"trained {TRAINED} "
        f"({'+' if gain >= 0 else ''}{100 * gain:.1f} points by thinking longer)."
    )
