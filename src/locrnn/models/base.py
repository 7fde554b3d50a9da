"""The one model contract shared by every model in the zoo.

A *recurrent* model is ``stem -> cell (iterated) -> head``:

* ``features = stem(x)`` is computed once; it is the constant drive X of the cell.
* ``state = cell.init_state(features)``, then ``state = cell(features, state, t)`` for
  ``t = 0 .. steps-1``; ``cell.output(state)`` is what the head reads.
* ``model(x, steps=None)`` returns the head's output after ``steps`` iterations (the trained
  number when omitted); ``model.iterate(x, steps)`` yields the output after every step, so a
  sweep over 1..N steps costs one pass and, without gradients, memory that does not grow with N.

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

    def _steps(self, steps: int | None) -> int:
        steps = self.trained_steps if steps is None else int(steps)
        if steps < 1:
            raise UserError(f"steps must be >= 1, got {steps}")
        return steps

    def states(self, x: torch.Tensor, steps: int | None = None) -> Iterator[State]:
        """Yield the cell state after each of ``steps`` iterations (nothing is kept)."""
        check_input(x, self.in_channels)
        n_steps = self._steps(steps)
        features = self.stem(x)
        drive = self.cell.prepare(features)
        state = self.cell.init_state(features)
        for t in range(n_steps):
            if self.checkpoint_steps and torch.is_grad_enabled():
                state = torch.utils.checkpoint.checkpoint(self.cell, drive, state, t, use_reentrant=False)
            else:
                state = self.cell(drive, state, t)
            yield state

    def iterate(self, x: torch.Tensor, steps: int | None = None) -> Iterator[torch.Tensor]:
        """Yield the head's output after every step 1..steps."""
        for state in self.states(x, steps):
            yield self.head(self.cell.output(state))

    def final_state(self, x: torch.Tensor, steps: int | None = None) -> State:
        """The cell state after ``steps`` iterations."""
        return deque(self.states(x, steps), maxlen=1)[0]

    def forward(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        return self.head(self.cell.output(self.final_state(x, steps)))


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
