"""Training objectives: small functions registered by name, and penalty terms they compose with.

Each objective maps one :class:`Batch` to a loss (``task.loss`` of the logits it chooses):

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
  the model has learned anything, and at N = 1 no gradient reaches the halting head again. The
  model needs its halting head: the run config adds it (``TrainConfig.model_kwargs``).

Terms (added by the objectives that take them):

* :func:`state_term` (``state_penalty``; fixed, random_steps, deep, progressive): beta *
  ||h_T - h_{T-1}||^2 / ||h_T||^2, the squared relative change of the readout state over the last
  step, pushing the dynamics towards a fixed point so that running past T changes little. With
  ``penalty_power=1`` it is ||h_T - h_{T-1}|| / ||h_T||: near a fixed point the squared form's
  gradient vanishes with the change (a model that drifts by 1% of its state per step pays 1e-4,
  nothing beside the task loss), the plain ratio's does not. (fixed ignores ``grad_steps`` then.)
* :func:`contraction_term` (``contraction``; progressive): that weight times the contraction
  penalty of :mod:`locrnn.training.contraction` at the window's last state when it is past half
  the reach: the late state must be an attracting fixed point, not only a resting one.
* ``state_noise`` (progressive): the detached state reached after n steps is perturbed
  (:func:`perturb`: Gaussian noise of that scale times each sample's RMS) before the k steps
  with gradients, so the model learns to return to the answer from states its own dynamics did
  not reach (on larger mazes they reach states that 9x9 training never showed; docs/size-extrapolation.md).
* ``state_mix`` (progressive): before the noise, a share of the samples get a random box of the
  previous sample's detached state (:func:`mix_boxes`): paths and fronts that do not belong to the
  maze, to be repaired (measured in docs/size-extrapolation.md: it did not help).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn as nn
from torch.utils._pytree import tree_map

from ..io import UserError
from ..models.act import act_forward
from .contraction import contraction_penalty


@dataclass(frozen=True)
class Batch:
    """What an objective sees: one batch, its task and the run's settings."""

    model: nn.Module  # what the trainer calls (maybe compiled): the plain forward goes through it
    net: nn.Module  # the model itself: its states, cell, head and trained steps
    x: torch.Tensor
    y: torch.Tensor
    task: Any  # .loss(logits, x, y)
    cfg: Any  # a TrainConfig (the objective's fields)
    rng: random.Random  # seeded and saved with the run: every draw is reproducible and resumable
    progress: float = 1.0  # how far training is, in [0, 1]

    def loss(self, logits: torch.Tensor) -> torch.Tensor:
        return self.task.loss(logits, self.x, self.y)


Objective = Callable[[Batch], torch.Tensor]
_OBJECTIVES: dict[str, Objective] = {}


def register_objective(name: str) -> Callable[[Objective], Objective]:
    """Register ``fn(batch) -> loss`` under ``name``; registering a name twice raises ``ValueError``."""

    def wrap(fn: Objective) -> Objective:
        if name in _OBJECTIVES:
            raise ValueError(f"an objective named {name!r} is already registered")
        _OBJECTIVES[name] = fn
        return fn

    return wrap


def list_objectives() -> list[str]:
    return sorted(_OBJECTIVES)


def objective_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    task: Any,
    cfg: Any,
    rng: random.Random,
    progress: float = 1.0,
) -> torch.Tensor:
    """Loss of one batch under ``cfg.objective``; draws from ``rng`` (seeded, resumable);
    ``progress`` in [0, 1] is how far training is (act: halting is off during its warm-up)."""
    kind = cfg.objective
    net = getattr(model, "module", model)
    if kind not in _OBJECTIVES:
        raise UserError(f"unknown objective {kind!r}; choose {', '.join(list_objectives())}")
    if not getattr(net, "recurrent", False):
        if kind != "fixed":
            raise UserError(f"objective {kind!r} needs a recurrent model")
        return task.loss(model(x), x, y)
    return _OBJECTIVES[kind](Batch(model, net, x, y, task, cfg, rng, progress))


# --- terms -------------------------------------------------------------------------------------


def relative_change(prev: torch.Tensor, last: torch.Tensor, power: int = 2) -> torch.Tensor:
    """Mean over samples of (||last - prev|| / ||last||) ** power (computed in fp32)."""
    if power not in (1, 2):
        raise UserError(f"penalty_power must be 1 or 2, got {power}")
    prev, last = prev.float().flatten(1), last.float().flatten(1)
    ratio = (last - prev).square().sum(1) / last.square().sum(1).clamp_min(1e-6)
    return (ratio if power == 2 else (ratio + 1e-12).sqrt()).mean()


def state_term(b: Batch, prev: torch.Tensor, last: torch.Tensor) -> torch.Tensor | float:
    """``state_penalty`` times the relative change of the readout state over the last step (0: off)."""
    beta = b.cfg.state_penalty
    return beta * relative_change(prev, last, b.cfg.penalty_power) if beta else 0.0


def contraction_term(b: Batch, window: Window, t: int, reach: int) -> torch.Tensor | float:
    """``contraction`` times the contraction penalty at the window's last state (step ``t``), on
    late states only (``t >= reach // 2``: early ones may need to grow); 0 when off."""
    weight = b.cfg.contraction
    if not weight or t < reach // 2:
        return 0.0
    return weight * contraction_penalty(b.net.cell, window.drive, window.state, t)


def perturb(state: Any, scale: float) -> Any:
    """``state`` plus Gaussian noise of ``scale`` times each sample's RMS, kept non-negative where
    the state is (a ReLU cell's state): the progressive window must then recover the answer
    from a state near, not at, the one the dynamics reached."""

    def one(v: torch.Tensor) -> torch.Tensor:
        rms = v.float().flatten(1).square().mean(1).sqrt().view(-1, *([1] * (v.dim() - 1)))
        out = v + (scale * rms * torch.randn_like(v, dtype=torch.float32)).to(v.dtype)
        return torch.where((v >= 0).all(), out.clamp_min(0), out)  # no host sync (a GPU keeps going)

    return tree_map(one, state)


def mix_boxes(state: Any, share: float) -> Any:
    """For a ``share`` of the samples, a random box of the detached state (a quarter to a half of
    each side) is replaced by the same box of the previous sample's state (the batch rolled by one): a locally wrong but
    plausible state (paths and fronts that do not belong to this maze) that the progressive window
    must repair. Spatial (B, C, H, W) tensors only; others pass unchanged."""

    def one(v: torch.Tensor) -> torch.Tensor:
        if v.dim() != 4 or v.shape[0] < 2:
            return v
        b, _, h, w = v.shape
        dev = v.device

        def span(n: int) -> torch.Tensor:  # (b, n) bool: one run of a quarter to a half of n per sample
            size = torch.randint(max(1, n // 4), max(2, n // 2 + 1), (b, 1), device=dev)
            start = (torch.rand(b, 1, device=dev) * (n - size + 1)).long()
            idx = torch.arange(n, device=dev)
            return (idx >= start) & (idx < start + size)

        rows, cols = span(h), span(w)
        chosen = torch.rand(b, device=dev) < share
        mask = (rows[:, :, None] & cols[:, None, :]) & chosen[:, None, None]
        return torch.where(mask[:, None], v.roll(1, 0), v)

    return tree_map(one, state)


# --- unrolls -----------------------------------------------------------------------------------


class Window(NamedTuple):
    """The end of an unroll: logits, the readout states before and after the last step, and the
    drive and last state (for the contraction term)."""

    logits: torch.Tensor
    prev: torch.Tensor
    last: torch.Tensor
    drive: Any
    state: Any


def _with_change(net: nn.Module, x: torch.Tensor, steps: int) -> Window:
    """Output after ``max(2, steps)`` steps from the start, keeping the readout state of each step."""
    n = max(2, steps)
    drive, first = net.prepare(x)
    prev = last = logits = state = None
    for t, state in enumerate(net.run(drive, first, n), 1):
        prev = last
        if t < n:
            last = net.cell.output(state)
        else:
            logits, last = net.readout(state, return_features=True)
    return Window(logits, prev, last, drive, state)


def _continue(net: nn.Module, x: torch.Tensor, state: Any, k: int, start: int = 0) -> Window:
    """Run ``k`` steps with gradients from a detached ``state`` reached after ``start`` steps (None:
    from the initial state)."""
    if state is not None:
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    drive, first = net.prepare(x, state)
    last = net.cell.output(first)
    logits = None
    for t, state in enumerate(net.run(drive, first, k, start), 1):
        prev = last
        if t < k:
            last = net.cell.output(state)
        else:
            logits, last = net.readout(state, return_features=True)
    return Window(logits, prev, last, drive, state)


def _step_range(b: Batch) -> tuple[int, int]:
    hi = b.net.resolve_steps(b.cfg.max_steps)
    lo = b.cfg.min_steps or hi
    if not 1 <= lo <= hi:
        raise UserError(f"need 1 <= min_steps <= max_steps, got {lo}, {hi}")
    return lo, hi


# --- objectives --------------------------------------------------------------------------------


@register_objective("fixed")
def fixed(b: Batch) -> torch.Tensor:
    steps, k = b.net.resolve_steps(b.cfg.steps), b.cfg.grad_steps
    if b.cfg.state_penalty:
        w = _with_change(b.net, b.x, steps)
        return b.loss(w.logits) + state_term(b, w.prev, w.last)
    if k and k < steps:  # truncated backpropagation: the first steps - k steps without gradients
        with torch.no_grad():
            state = b.net.final_state(b.x, steps - k)
        return b.loss(_continue(b.net, b.x, state, k, start=steps - k).logits)
    return b.loss(b.model(b.x, steps=b.cfg.steps))


@register_objective("random_steps")
def random_steps(b: Batch) -> torch.Tensor:
    steps = b.rng.randint(*_step_range(b))
    if b.cfg.state_penalty:
        w = _with_change(b.net, b.x, steps)
        return b.loss(w.logits) + state_term(b, w.prev, w.last)
    return b.loss(b.model(b.x, steps=steps))


@register_objective("deep")
def deep(b: Batch) -> torch.Tensor:
    lo, hi = _step_range(b)
    losses, prev, last = [], None, None
    for t, state in enumerate(b.net.states(b.x, hi), 1):
        prev = last
        if t >= lo:
            logits, last = b.net.readout(state, return_features=True)
            losses.append(b.loss(logits))
        else:
            last = b.net.cell.output(state)
    loss = torch.stack(losses).mean()
    return loss + state_term(b, prev, last) if prev is not None else loss


@register_objective("progressive")
def progressive(b: Batch) -> torch.Tensor:
    steps = b.net.resolve_steps(b.cfg.steps)
    reach = max(b.cfg.max_steps or steps, steps)
    alpha = b.cfg.alpha
    full = b.loss(b.model(b.x, steps=steps)) if alpha < 1 else 0.0
    if reach == steps:  # DeepThinking: n + k <= T
        n = b.rng.randint(0, steps - 1)
        k = b.rng.randint(1, steps - n)
    else:  # a long detached prefix: any n + k <= max_steps, gradients through the last k only
        n = b.rng.randint(0, reach - steps)
        k = b.rng.randint(1, steps)
    with torch.no_grad():
        state = b.net.final_state(b.x, n) if n else None
        if state is not None and b.cfg.state_mix:
            state = mix_boxes(state, b.cfg.state_mix)
        if state is not None and b.cfg.state_noise:
            state = perturb(state, b.cfg.state_noise)
    w = _continue(b.net, b.x, state, k, start=n)
    prog = b.loss(w.logits) + state_term(b, w.prev, w.last) + contraction_term(b, w, n + k, reach)
    return (1 - alpha) * full + alpha * prog


@register_objective("act")
def act(b: Batch) -> torch.Tensor:
    budget = b.net.resolve_steps(b.cfg.max_steps)
    if b.progress < b.cfg.act_warmup:  # halting off: every sample runs the whole budget (AdRNN's warm-up)
        logits, h = b.net.readout(b.net.final_state(b.x, budget), return_features=True)
        return b.loss(logits) + 0.0 * b.net.halt(h).sum()  # (the head stays in the graph for DDP)
    res = act_forward(b.net, b.x, budget)
    return b.loss(res.logits) + b.cfg.ponder * res.remainder.mean()
