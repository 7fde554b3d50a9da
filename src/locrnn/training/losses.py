"""Training objectives as pure functions of (model, batch, task, config).

* ``fixed``: the paper: loss on the output after the trained number of steps. With ``grad_steps``
  = k < T the first T - k steps run without gradients and backpropagation goes through the last
  k only (truncated BPTT: the same loss, about (T - k) * 2/3 fewer step-costs per image).
* ``random_steps``: the unroll length is drawn per batch from [min_steps, max_steps].
* ``progressive``: DeepThinking's progressive loss: (1 - alpha) * loss after T steps + alpha *
  loss after k steps taken from a detached state reached after n steps (n + k <= T). With
  ``max_steps`` > T the detached prefix reaches further: n in [0, max_steps - T], k in [1, T],
  so the model is trained to be right at any step up to max_steps while gradients flow through
  at most T steps (the cost of a long horizon without its memory).
* ``deep``: per-step (deep) supervision, the mean loss over every step from min_steps to T.
* ``act``: learned adaptive computation time (models/act.py): the loss on the halting-weighted
  output within a budget of ``max_steps`` (default T) + ``ponder`` * the mean remainder. During
  the first ``act_warmup`` of training halting is off (the loss after the whole budget): with
  halting on from the start, the ponder cost drives every sample to halt after one step before
  the model has learned anything, and at N = 1 no gradient reaches the halting head again.

``contraction`` (progressive): adds that weight times the contraction penalty of
:mod:`locrnn.training.contraction` at the window's last state when it is past half the reach:
the late state must be an attracting fixed point, not only a resting one.

``state_penalty`` (any objective; for progressive on its last step): adds beta * ||h_T - h_{T-1}||^2 / ||h_T||^2,
the squared relative change of the readout state over the last step, pushing the dynamics
towards a fixed point so that running past T changes little (a contraction-style regulariser).
With ``penalty_power=1`` the penalty is ||h_T - h_{T-1}|| / ||h_T|| instead: near a fixed point
the squared form's gradient vanishes with the change (a model that drifts by 1% of its state per
step pays 1e-4, nothing beside the task loss), the plain ratio's does not.
"""

from __future__ import annotations

import random

import torch

from ..io import UserError


def _step_range(model, cfg) -> tuple[int, int]:
    hi = cfg.max_steps or model.trained_steps
    lo = cfg.min_steps or hi
    if not 1 <= lo <= hi:
        raise UserError(f"need 1 <= min_steps <= max_steps, got {lo}, {hi}")
    return lo, hi


def objective_loss(
    model, x: torch.Tensor, y: torch.Tensor, task, cfg, rng: random.Random, progress: float = 1.0
) -> torch.Tensor:
    """Loss of one batch under ``cfg.objective``; draws from ``rng`` (seeded, resumable);
    ``progress`` in [0, 1] is how far training is (act: halting is off during its warm-up)."""
    kind = cfg.objective
    net = getattr(model, "module", model)
    if not getattr(net, "recurrent", False):
        if kind != "fixed":
            raise UserError(f"objective {kind!r} needs a recurrent model")
        return task.loss(model(x), x, y)
    beta = getattr(cfg, "state_penalty", 0.0)
    power = getattr(cfg, "penalty_power", 2)
    if kind in ("fixed", "random_steps") and beta:
        steps = cfg.steps or net.trained_steps
        if kind == "random_steps":
            steps = rng.randint(*_step_range(net, cfg))
        logits, change = _last_with_change(net, x, steps, power)
        return task.loss(logits, x, y) + beta * change
    if kind == "fixed":
        steps, k = cfg.steps or net.trained_steps, getattr(cfg, "grad_steps", None)
        if k and k < steps:  # truncated backpropagation: the first steps - k steps without gradients
            with torch.no_grad():
                state = net.final_state(x, steps - k)
            return task.loss(_continue(net, x, state, k, start=steps - k)[0], x, y)
        return task.loss(model(x, steps=cfg.steps), x, y)
    if kind == "random_steps":
        lo, hi = _step_range(net, cfg)
        return task.loss(model(x, steps=rng.randint(lo, hi)), x, y)
    if kind == "deep":
        lo, hi = _step_range(net, cfg)
        losses, prev, last = [], None, None
        for t, state in enumerate(net.states(x, hi), 1):
            prev, last = last, net.cell.output(state)
            if t >= lo:
                losses.append(task.loss(net.head(last), x, y))
        loss = torch.stack(losses).mean()
        return loss + beta * relative_change(prev, last, power) if beta and prev is not None else loss
    if kind == "act":
        from ..models.act import act_forward

        budget = cfg.max_steps or net.trained_steps
        if progress < cfg.act_warmup:  # halting off: every sample runs the whole budget (AdRNN's warm-up)
            h = net.cell.output(net.final_state(x, budget))
            return task.loss(net.head(h), x, y) + 0.0 * net.halt(h).sum()  # (the head stays in the graph for DDP)
        res = act_forward(net, x, budget)
        return task.loss(res.logits, x, y) + cfg.ponder * res.remainder.mean()
    if kind == "progressive":
        steps = cfg.steps or net.trained_steps
        reach = max(cfg.max_steps or steps, steps)
        full = task.loss(model(x, steps=steps), x, y) if cfg.alpha < 1 else 0.0
        if reach == steps:  # DeepThinking: n + k <= T
            n = rng.randint(0, steps - 1)
            k = rng.randint(1, steps - n)
        else:  # a long detached prefix: any n + k <= max_steps, gradients through the last k only
            n = rng.randint(0, reach - steps)
            k = rng.randint(1, steps)
        with torch.no_grad():
            state = net.final_state(x, n) if n else None
        logits, change, drive, state = _continue(net, x, state, k, start=n, power=power)
        prog = task.loss(logits, x, y) + (beta * change if beta else 0.0)
        if cfg.contraction and n + k >= reach // 2:  # late states only: early ones may need to grow
            from .contraction import contraction_penalty

            prog = prog + cfg.contraction * contraction_penalty(net.cell, drive, state, n + k)
        return (1 - cfg.alpha) * full + cfg.alpha * prog
    raise UserError(f"unknown objective {kind!r}; choose fixed, random_steps, deep, progressive or act")


def relative_change(prev: torch.Tensor, last: torch.Tensor, power: int = 2) -> torch.Tensor:
    """Mean over samples of (||last - prev|| / ||last||) ** power (computed in fp32)."""
    if power not in (1, 2):
        raise UserError(f"penalty_power must be 1 or 2, got {power}")
    prev, last = prev.float().flatten(1), last.float().flatten(1)
    ratio = (last - prev).square().sum(1) / last.square().sum(1).clamp_min(1e-6)
    return (ratio if power == 2 else (ratio + 1e-12).sqrt()).mean()


def _last_with_change(net, x: torch.Tensor, steps: int, power: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Output after ``steps`` steps and the relative state change over the last step."""
    prev = last = None
    for state in net.states(x, max(2, steps)):
        prev, last = last, net.cell.output(state)
    return net.head(last), relative_change(prev, last, power)


def _continue(net, x: torch.Tensor, state, k: int, start: int = 0, power: int = 2):
    """Run ``k`` more steps from a detached ``state`` (None: from the initial state); return the
    output, the relative change of the readout state over the last step, the drive and the state."""
    features = net.stem(x)
    drive = net.cell.prepare(features)
    if state is None:
        state = net.cell.init_state(features)
    else:
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    last = net.cell.output(state)
    for t in range(start, start + k):
        state = net.cell(drive, state, t)
        prev, last = last, net.cell.output(state)
    return net.head(last), relative_change(prev, last, power), drive, state
