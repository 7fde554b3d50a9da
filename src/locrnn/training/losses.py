"""Training objectives as pure functions of (model, batch, task, config).

* ``fixed``: the paper: loss on the output after the trained number of steps.
* ``random_steps``: the unroll length is drawn per batch from [min_steps, max_steps].
* ``progressive``: DeepThinking's progressive loss: (1 - alpha) * loss after T steps + alpha *
  loss after k steps taken from a detached state reached after n steps (n + k <= T).
* ``deep``: per-step (deep) supervision, the mean loss over every step from min_steps to T.
"""

from __future__ import annotations

import random

import torch


def _step_range(model, cfg) -> tuple[int, int]:
    hi = cfg.max_steps or model.trained_steps
    lo = cfg.min_steps or hi
    if not 1 <= lo <= hi:
        raise ValueError(f"need 1 <= min_steps <= max_steps, got {lo}, {hi}")
    return lo, hi


def objective_loss(model, x: torch.Tensor, y: torch.Tensor, task, cfg, rng: random.Random) -> torch.Tensor:
    """Loss of one batch under ``cfg.objective``; draws from ``rng`` (seeded, resumable)."""
    kind = cfg.objective
    net = getattr(model, "module", model)
    if not getattr(net, "recurrent", False):
        if kind != "fixed":
            raise ValueError(f"objective {kind!r} needs a recurrent model")
        return task.loss(model(x), x, y)
    if kind == "fixed":
        return task.loss(model(x, steps=cfg.steps), x, y)
    if kind == "random_steps":
        lo, hi = _step_range(net, cfg)
        return task.loss(model(x, steps=rng.randint(lo, hi)), x, y)
    if kind == "deep":
        lo, hi = _step_range(net, cfg)
        losses = [task.loss(out, x, y) for t, out in enumerate(net.iterate(x, hi), 1) if t >= lo]
        return torch.stack(losses).mean()
    if kind == "progressive":
        steps = cfg.steps or net.trained_steps
        full = task.loss(model(x, steps=steps), x, y)
        n = rng.randint(0, steps - 1)
        k = rng.randint(1, steps - n)
        with torch.no_grad():
            state = net.final_state(x, n) if n else None
        prog = task.loss(_continue(net, x, state, k, start=n), x, y)
        return (1 - cfg.alpha) * full + cfg.alpha * prog
    raise ValueError(f"unknown objective {kind!r}; choose fixed, random_steps, deep or progressive")


def _continue(net, x: torch.Tensor, state, k: int, start: int = 0) -> torch.Tensor:
    """Run ``k`` more steps from a detached ``state`` (None: from the initial state)."""
    features = net.stem(x)
    drive = net.cell.prepare(features)
    if state is None:
        state = net.cell.init_state(features)
    else:
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    for t in range(start, start + k):
        state = net.cell(drive, state, t)
    return net.head(net.cell.output(state))
