"""Probe a trained maze model's dynamics step by step (the diagnostics of docs/stability.md).

For held-out mazes, at chosen steps: exact-match accuracy, the squared relative change of the
readout state over the step, how far a tiny perturbation added at step ``--kick`` has moved the
state (relative to it), and the one-step growth of the most-growing perturbation of the state
(finite-difference power iteration, as the contraction penalty measures it). A state that has
reached an attracting fixed point shows a change near 0, a shrinking perturbation and a growth < 1.

    .venv/bin/python scripts/probe_dynamics.py results/runs/quick/mazes9-locrnn-contractive-s0 --size 9
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from locrnn.cli.sweep import parse_steps
from locrnn.models.hub import load_model
from locrnn.tasks import get_task
from locrnn.training.contraction import contraction_penalty
from locrnn.training.objectives import relative_change


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder or checkpoint of a recurrent maze model")
    ap.add_argument("--size", type=int, default=9)
    ap.add_argument("--n", type=int, default=100, help="test mazes")
    ap.add_argument("--steps", default="10,15,20,30,40,60,80,100,150,200,300")
    ap.add_argument("--kick", type=int, default=30, help="step at which the perturbation is added")
    ap.add_argument("--iters", type=int, default=100, help="power iterations for the growth")
    args = ap.parse_args(argv)
    model = load_model(args.run).eval()
    task = get_task("mazes")
    x, y = task.test_data(args.size, args.n, seed=7).batch(np.arange(args.n))
    report = set(parse_steps(args.steps))
    torch.manual_seed(0)
    print(f"{'step':>5} {'accuracy':>9} {'change^2':>9} {'perturbation':>12} {'growth':>7}")
    with torch.no_grad():
        (drive, state), kicked = model.prepare(x), None
        for t in range(max(report)):
            new = model.cell(drive, state, t)
            kicked = model.cell(drive, kicked, t) if kicked is not None else None
            if t + 1 == args.kick:
                kicked = new + 1e-3 * new.std() * torch.randn_like(new)
            if t + 1 in report:
                acc = task.correct(model.readout(new), x, y).float().mean().item()
                change = relative_change(model.cell.output(state), model.cell.output(new)).item()
                moved = ((kicked - new).norm() / new.norm()).item() if kicked is not None else float("nan")
                growth = contraction_penalty(model.cell, drive, new, t + 1, iters=args.iters, rho=0.0).sqrt().item()
                print(f"{t + 1:>5} {100 * acc:>8.1f}% {change:>9.1e} {moved:>12.1e} {growth:>7.3f}")
            state = new


if __name__ == "__main__":
    main()
