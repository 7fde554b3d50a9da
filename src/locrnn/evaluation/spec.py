"""What a sweep (or a halting evaluation) of one checkpoint does: one frozen value, made once.

``locrnn sweep``, ``locrnn reproduce`` and the demo build a ``SweepSpec``; the evaluation takes
it down one straight line: open the checkpoint, its task, the test data, evaluate, write rows.
Its checks run when it is made and name the setting (``n``, not ``--n``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from ..io import UserError

HALTING_RULES = ("prediction", "state", "act")


@dataclass(frozen=True)
class SweepSpec:
    """Test ``checkpoint`` on ``difficulties`` (None: the task's three) with ``n`` samples each.

    ``steps``: the step counts of a sweep (``"trained"``: the trained count only; None: 1 to 4x
    trained). With ``halt`` set, each sample stops by that rule instead (evaluation/halting.py):
    after at most ``max_steps`` (None: 10x trained), when unchanged for ``patience`` steps (by
    ``tol``, relative, for the rule ``state``). Test data is the task's ``test`` split, read from
    ``data_root`` or generated from ``seed``; rows go to ``out`` (None: a folder beside the
    checkpoint, ``sweep`` or ``halting``). ``damping`` beta in (0, 1] damps every step after the
    first, s_t = s_{t-1} + beta (F(s_{t-1}) - s_{t-1}) (1: the model as trained; models/base.py).
    ``patience`` and ``damping`` left at None take the checkpoint's ``test_time`` settings, else
    5 and 1 (``models.hub.test_time_settings``).
    """

    checkpoint: str | os.PathLike
    difficulties: tuple[int, ...] | None = None
    steps: tuple[int, ...] | Literal["trained"] | None = None
    n: int = 1000
    data_root: str | None = None
    out: str | os.PathLike | None = None
    batch_size: int = 256
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    progress: bool = True
    halt: Literal["prediction", "state", "act"] | None = None
    max_steps: int | None = None
    patience: int | None = None
    tol: float = 1e-3
    damping: float | None = None

    def __post_init__(self) -> None:
        if self.difficulties is not None:
            object.__setattr__(self, "difficulties", tuple(self.difficulties))
        if self.steps is not None and self.steps != "trained":
            object.__setattr__(self, "steps", tuple(self.steps))
            if not self.steps or min(self.steps) < 1:
                raise UserError(f"steps must be step counts >= 1, got {list(self.steps)}")
        for name in ("n", "batch_size", "patience"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError(f"max_steps must be at least 1, got {self.max_steps}")
        if not self.tol > 0:
            raise UserError(f"tol must be positive, got {self.tol}")
        if self.damping is not None and not 0 < self.damping <= 1:
            raise UserError(f"damping must be in (0, 1] (1: no damping), got {self.damping}")
        if self.halt is not None and self.halt not in HALTING_RULES:
            raise UserError(f"unknown halting rule {self.halt!r}; choose prediction, state or act")

    @property
    def folder(self) -> str:
        """The default output folder's name beside the checkpoint."""
        return "halting" if self.halt else "sweep"
