"""The one model contract shared by every model in the zoo.

A *recurrent* model is ``stem -> cell (iterated) -> head``:

* ``features = stem(x)`` is computed once; ``drive = cell.prepare(features)`` is the constant
  drive X of the cell and ``cell.init_state(features)`` its first state (:meth:`RecurrentNet.prepare`).
* ``state = cell(drive, state, t)`` for ``t = 0 .. steps-1`` (:meth:`RecurrentNet.run`);
  ``readout(state) = head(cell.output(state))`` is the model's answer at a state.
* ``model(x, steps=None)`` returns the readout after ``steps`` iterations (the trained number when
  omitted: :meth:`RecurrentNet.resolve_steps` is the one place that says so);
  ``model.states(x, steps, state=None, start=0)`` yields every state and ``model.iterate(x, steps)``
  every readout, so a sweep over 1..N steps costs one pass and, without gradients, memory that
  does not grow with N (each state is dropped once the next is made). Scoring reads out only at
  the step counts it is asked for: ``states`` and ``readout(state)`` at those.
* Drives and states are tensors or (nested) tuples of tensors, batch first, and samples never
  mix (norms are per sample at test time), so :func:`select_samples` may drop samples from a run
  midway (halting drops the samples that are done).

A *feed-forward* model declares ``recurrent = False``; asking it for a step count is an error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn
import torch.utils.checkpoint

from ..io import UserError

State = Any  # a tensor or a tuple of tensors, whatever the cell carries


def check_input(x: torch.Tensor, in_channels: int) -> None:
    """Raise a one-line ``ValueError`` naming what is wrong with an image batch."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor image batch, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"expected an input of shape (batch, {in_channels}, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"expected {in_channels} input channels, got {x.shape[1]} (input shape {tuple(x.shape)})")


def damped(old: State, new: State, damping: float) -> State:
    """``old + damping * (new - old)`` for tensors and (nested) tuples/lists of tensors alike: one
    damped step of an iteration ``s <- F(s)``, whose fixed points are those of ``F``."""
    if isinstance(new, torch.Tensor):
        return torch.lerp(old.to(new.dtype), new, damping)
    if isinstance(new, (tuple, list)):
        return type(new)(damped(o, n, damping) for o, n in zip(old, new))
    return new


def select_samples(value: Any, keep: torch.Tensor) -> Any:
    """``value`` (a drive or state: a tensor or nested tuples/lists of tensors, batch first)
    restricted to the samples ``keep`` (a boolean mask or indices); anything else is kept as is."""
    if isinstance(value, torch.Tensor):
        return value[keep]
    if isinstance(value, (tuple, list)):
        return type(value)(select_samples(v, keep) for v in value)
    return value


class RecurrentCell(nn.Module):
    """Base class of the recurrent layers: subclasses define the update of one step."""

    out_channels: int

    def prepare(self, x: torch.Tensor) -> Any:
        """Work on the constant drive done once per forward (e.g. input convolutions)."""
        return x

    def init_state(self, x: torch.Tensor) -> State:
        raise NotImplementedError

    def forward(self, drive: Any, state: State, t: int) -> State:  # noqa: D102
        raise NotImplementedError

    def output(self, state: State) -> torch.Tensor:
        """What the readout sees (by default the state itself)."""
        return state

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """The parameters of the recurrent block, the weights applied at every step: the ones
        ``TrainConfig.recurrent_lr_factor`` scales the learning rate of (DeepThinking's lr /
        max_iters). By default all of the cell's; a cell with parameters used once per forward
        (an initial projection) leaves those out."""
        return list(self.parameters())


class RecurrentNet(nn.Module):
    """``stem -> cell x steps -> head`` with the number of steps chosen at call time."""

    recurrent = True

    def __init__(
        self, stem: nn.Module, cell: RecurrentCell, head: nn.Module, *, steps: int, in_channels: int = 3
    ) -> None:
        super().__init__()
        if steps < 1:
            raise UserError(f"steps must be >= 1, got {steps}")
        self.stem, self.cell, self.head = stem, cell, head
        self.trained_steps = int(steps)
        self.in_channels = in_channels
        self.checkpoint_steps = False  # gradient checkpointing of each step (memory saver)
        # test-time damping beta of every step after the first: s_t = s_{t-1} + beta (F(s_{t-1}) - s_{t-1})
        # (1: the plain iteration). Same fixed points, smaller moves; set by a sweep's ``damping``.
        self.damping = 1.0

    def resolve_steps(self, steps: int | None) -> int:
        """``steps``, or the trained number when it is None (checked >= 1)."""
        steps = self.trained_steps if steps is None else int(steps)
        if steps < 1:
            raise UserError(f"steps must be >= 1, got {steps}")
        return steps

    def prepare(self, x: torch.Tensor, state: State | None = None) -> tuple[Any, State]:
        """The cell's drive for ``x`` (the stem and the cell's input work, done once per forward) and
        the state to start from: ``state`` when given, else the cell's initial state."""
        check_input(x, self.in_channels)
        features = self.stem(x)
        drive = self.cell.prepare(features)
        return drive, self.cell.init_state(features) if state is None else state

    def step(self, drive: Any, state: State, t: int) -> State:
        """One iteration: the state after step ``t + 1`` from ``state``, reached after ``t`` steps;
        with ``damping`` beta < 1 every step after the first moves only beta of the way to the
        cell's new state."""
        if self.checkpoint_steps and torch.is_grad_enabled():
            new = torch.utils.checkpoint.checkpoint(self.cell, drive, state, t, use_reentrant=False)
        else:
            new = self.cell(drive, state, t)
        return damped(state, new, self.damping) if self.damping != 1.0 and t > 0 else new

    def run(self, drive: Any, state: State, steps: int, start: int = 0) -> Iterator[State]:
        """Yield the states after steps ``start + 1 .. start + steps`` from ``state`` (nothing is kept)."""
        for t in range(start, start + steps):
            state = self.step(drive, state, t)
            yield state

    def states(
        self, x: torch.Tensor, steps: int | None = None, state: State | None = None, start: int = 0
    ) -> Iterator[State]:
        """Yield the cell state after each of ``steps`` iterations; from ``state`` (reached after
        ``start`` steps) when given, else from the initial state."""
        n_steps = self.resolve_steps(steps)
        drive, state = self.prepare(x, state)
        yield from self.run(drive, state, n_steps, start)

    def readout(self, state: State, return_features: bool = False):
        """The head's output at ``state``: ``head(cell.output(state))``; with ``return_features``
        also ``cell.output(state)`` (what the head read, e.g. for a penalty on it), computed once."""
        features = self.cell.output(state)
        out = self.head(features)
        return (out, features) if return_features else out

    def iterate(self, x: torch.Tensor, steps: int | None = None) -> Iterator[torch.Tensor]:
        """Yield the readout after every step 1..steps."""
        for state in self.states(x, steps):
            yield self.readout(state)

    def final_state(self, x: torch.Tensor, steps: int | None = None) -> State:
        """The cell state after ``steps`` iterations."""
        return deque(self.states(x, steps), maxlen=1)[0]

    def forward(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        return self.readout(self.final_state(x, steps))

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """The recurrent block's parameters (the cell's ``recurrent_parameters``); the stem and
        the head run once per readout and are not among them."""
        return self.cell.recurrent_parameters()


class FeedForwardNet(nn.Module):
    """A model with a fixed computation: ``steps`` must not be given."""

    recurrent = False

    def __init__(self, body: nn.Module, *, in_channels: int = 3) -> None:
        super().__init__()
        self.body = body
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        if steps is not None:
            raise UserError(f"{type(self).__name__} is feed-forward and takes no step count (got steps={steps})")
        check_input(x, self.in_channels)
        return self.body(x)

    def iterate(self, x: torch.Tensor, steps: int | None = None) -> Iterator[torch.Tensor]:
        if steps is not None:
            raise UserError(f"{type(self).__name__} is feed-forward and takes no step count")
        yield self(x)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """None: nothing is applied more than once."""
        return []
