"""Large-maze evaluation: image-steps/s against the convolution peak, and the time to score large
mazes with halting and with a sparse sweep, the path before issue #18 beside today's, in one run.

* **old path** (frozen here as it was): halting runs the whole batch until its last sample halts
  and reads out every sample at every step; a sweep reads out at every step and keeps those asked.
* **new path** (``locrnn.evaluation.halting`` / ``locrnn.scoring``): a sample that halts leaves
  the batch; a sweep reads out only at the step counts asked for.

Both paths score the same mazes with the same model (``locrnn-mazes-stable``, held-out mazes of
``generate_mazes(n, S, seed=7, split="test")``) under the same precision, and must give the same
accuracy and steps. The default run is short (a few minutes on 2 idle cores: 20 mazes 33x33 and
2 of 59x59, budget 1000 steps). The issue's set, ``--n33 100 --n59 30 --max-steps 3000``, takes
about an hour on 2 cores: the old path runs every maze of a batch until its slowest halts, and one
maze that never halts keeps the whole batch running to the budget.

    .venv/bin/python benchmarks/large_mazes.py [--n33 20] [--n59 2] [--max-steps 1000] [--precision auto]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import conv_peak, count_flops, fmt_table, loadavg, machine

from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes, image_side
from locrnn.evaluation.halting import evaluate_halting
from locrnn.models import build_model
from locrnn.runtime import pick_dtype
from locrnn.scoring import evaluate_steps
from locrnn.tasks import get_task


def cpu_class() -> str:
    """``avx512_bf16`` where the CPU computes bf16 natively, else ``avx2`` (or ``other``)."""
    try:
        flags = set(next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split())
    except (OSError, StopIteration):
        return "unknown"
    return next((f for f in ("avx512_bf16", "avx2") if f in flags), "other")


def precision_of(name: str) -> tuple[str, torch.dtype | None]:
    dtype = pick_dtype(name, torch.device("cpu"))
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype], dtype


def autocast(dtype: torch.dtype | None):
    return torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()


@torch.no_grad()
def old_halting(model, data: ArrayDataset, task, *, max_steps: int, patience: int, batch_size: int, dtype):
    """Halting by prediction as it was before: the whole batch runs until its last sample halts,
    every sample read out at every step. Returns (accuracy, steps used, image-steps computed)."""
    correct, used, computed = [], [], 0
    for start in range(0, len(data), batch_size):
        x, y = data.batch(np.arange(start, min(start + batch_size, len(data))))
        n = len(x)
        steps_used = torch.full((n,), max_steps, dtype=torch.long)
        stable = torch.zeros(n, dtype=torch.long)
        halted = torch.zeros(n, dtype=torch.bool)
        answer = prev = None
        with autocast(dtype):
            for t, state in enumerate(model.states(x, max_steps), 1):
                computed += n
                pred = task.predict(model.readout(state).float(), x)
                answer = pred.clone() if answer is None else answer
                live = ~halted
                answer[live] = pred[live]
                same = torch.zeros_like(halted) if prev is None else (pred == prev).reshape(n, -1).all(1)
                stable = torch.where(same, stable + 1, torch.zeros_like(stable))
                stop = live & (stable >= patience)
                steps_used[stop] = t
                halted |= stop
                prev = pred
                if halted.all():
                    break
        correct.append(task.correct_prediction(answer, x, y))
        used.append(steps_used)
    return torch.cat(correct).float().mean().item(), torch.cat(used).numpy(), computed


@torch.no_grad()
def old_sweep(model, data: ArrayDataset, task, steps: list[int], *, batch_size: int, dtype) -> dict[int, float]:
    """A sweep as it was before: the readout at every step, those not asked for thrown away."""
    right: dict[int, float] = {}
    for start in range(0, len(data), batch_size):
        x, y = data.batch(np.arange(start, min(start + batch_size, len(data))))
        with autocast(dtype):
            for t, logits in enumerate(model.iterate(x, max(steps)), 1):
                if t in steps:
                    right[t] = right.get(t, 0.0) + task.correct(logits.float(), x, y).sum().item()
    return {t: c / len(data) for t, c in right.items()}


@torch.no_grad()
def step_rates(model, sizes: list[int], dtype, peak: float, *, batch: int = 16, steps: int = 10) -> list[dict]:
    """Image-steps/s of the cell and images/s of the head at each maze size, and the share of
    the convolution peak the cell reaches (FLOPs counted from the layer shapes)."""
    rows = []
    for size in sizes:
        x = torch.from_numpy(generate_mazes(batch, size, seed=7, split="test", workers=1)[0]).float()
        with autocast(dtype):
            drive, state = model.prepare(x)
            state = model.step(drive, state, 0)  # step 0 from zeros skips the recurrent convolutions
            step_flops = count_flops(lambda d=drive, s=state: model.step(d, s, 1)) / batch
            head_flops = count_flops(lambda s=state: model.readout(s)) / batch
            for t in range(1, 3):  # warm-up
                state = model.step(drive, state, t)
            t0 = time.perf_counter()
            for t in range(3, 3 + steps):
                state = model.step(drive, state, t)
            cell_s = (time.perf_counter() - t0) / (steps * batch)
            t0 = time.perf_counter()
            for _ in range(5):
                model.readout(state)
            head_s = (time.perf_counter() - t0) / (5 * batch)
        rows.append(
            {
                "size": f"{size}x{size} ({image_side(size)} px)",
                "batch": batch,
                "step_gflop": step_flops / 1e9,
                "img_steps_s": 1 / cell_s,
                "share": step_flops / cell_s / 1e9 / peak,
                "head_gflop": head_flops / 1e9,
                "head_img_s": 1 / head_s,
            }
        )
    return rows


def score_halting(model, task, size: int, n: int, *, max_steps: int, patience: int, dtype) -> list[dict]:
    data = ArrayDataset(*generate_mazes(n, size, seed=7, split="test"))
    rows, results = [], {}
    for path in ("old", "new"):
        load = loadavg()
        t0 = time.perf_counter()
        if path == "old":
            acc, used, computed = old_halting(
                model, data, task, max_steps=max_steps, patience=patience, batch_size=256, dtype=dtype
            )
        else:
            with autocast(dtype):
                res = evaluate_halting(model, data, task, max_steps=max_steps, patience=patience, batch_size=256)
            acc, used = res["accuracy"], res["steps_used"]
            computed = int(used.sum())
        seconds = time.perf_counter() - t0
        results[path] = (acc, used)
        rows.append(
            {
                "what": f"halting, {n} mazes {size}x{size}",
                "path": path,
                "seconds": seconds,
                "img_steps": computed,
                "img_steps_s": computed / seconds,
                "accuracy": acc,
                "mean_steps": float(used.mean()),
                "max_steps_used": int(used.max()),
                "load": load,
            }
        )
    same = results["old"][0] == results["new"][0] and (results["old"][1] == results["new"][1]).all()
    for r in rows:
        r["same"] = bool(same)
    return rows


def score_sweep(model, task, size: int, n: int, steps: list[int], *, dtype) -> list[dict]:
    data = ArrayDataset(*generate_mazes(n, size, seed=7, split="test"))
    rows, accs = [], {}
    for path in ("old", "new"):
        load = loadavg()
        t0 = time.perf_counter()
        if path == "old":
            accs[path] = old_sweep(model, data, task, steps, batch_size=256, dtype=dtype)
        else:
            with autocast(dtype):
                res = evaluate_steps(model, data, task, steps, batch_size=256)
            accs[path] = {t: r["accuracy"] for t, r in res.items()}
        seconds = time.perf_counter() - t0
        what = f"sweep {steps[0]}:{steps[-1]}:{steps[1] - steps[0]}, {n} mazes {size}x{size}"
        rows.append({"what": what, "path": path, "seconds": seconds, "img_steps": n * steps[-1], "load": load})
        rows[-1]["img_steps_s"] = rows[-1]["img_steps"] / seconds
    for r in rows:
        r["same"] = accs["old"] == accs["new"]
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n33", type=int, default=20, help="33x33 mazes scored with halting (the issue's set: 100)")
    p.add_argument("--n59", type=int, default=2, help="59x59 mazes scored with halting (the issue's set: 30)")
    p.add_argument("--max-steps", type=int, default=1000, help="halting budget (the issue's: a few thousand)")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--sweep-n", type=int, default=16, help="33x33 mazes of the sparse sweep (0: none)")
    p.add_argument("--sweep-steps", default="50:500:50", help="start:stop:step of the sweep")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--sizes", default="33,59", help="maze sizes of the speed table (and of halting)")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args(argv)
    name, dtype = precision_of(args.precision)
    torch.manual_seed(0)
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    sizes = [int(s) for s in args.sizes.split(",")]
    started, t_all = loadavg(), time.perf_counter()
    print(f"machine: {machine()}; CPU class {cpu_class()}; precision {name}")
    print(f"load average at start: {started}\n")

    peak = conv_peak(rounds=3, quick=True, precisions=(name,))[name]
    print(f"convolution peak ({name}): {peak['gflops']:.0f} GFLOP/s ({peak['shape']}, {peak['layout']})\n")
    speed = step_rates(model, sizes, dtype, peak["gflops"])
    print(
        fmt_table(
            speed,
            [
                ("size", "maze"),
                ("batch", "batch"),
                ("step_gflop", "cell GFLOP/img-step"),
                ("img_steps_s", "img-steps/s"),
                ("share", "share of conv peak"),
                ("head_gflop", "head GFLOP/img"),
                ("head_img_s", "head img/s"),
            ],
        )
    )
    print()

    rows = []
    for size, n in zip(sizes, (args.n33, args.n59)):
        if n:
            rows += score_halting(model, task, size, n, max_steps=args.max_steps, patience=args.patience, dtype=dtype)
    if args.sweep_n:
        a, b, c = (int(v) for v in args.sweep_steps.split(":"))
        rows += score_sweep(model, task, sizes[0], args.sweep_n, list(range(a, b + 1, c)), dtype=dtype)
    cols = [
        ("what", "scoring"),
        ("path", "path"),
        ("seconds", "seconds"),
        ("img_steps", "img-steps computed"),
        ("img_steps_s", "img-steps/s"),
        ("accuracy", "accuracy"),
        ("mean_steps", "mean steps"),
        ("max_steps_used", "most steps"),
        ("same", "same answers"),
        ("load", "load avg at start"),
    ]
    print(fmt_table(rows, cols))
    print(f"\nhalting by prediction, patience {args.patience}, budget {args.max_steps} steps, batch 256, {name}")
    print(f"load average at end: {loadavg()}; whole run {time.perf_counter() - t_all:.0f} s")
    out = {"precision": name, "cpu_class": cpu_class(), "peak": peak, "speed": speed, "scoring": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
