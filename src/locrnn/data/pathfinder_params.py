"""The parameters a PathFinder image depends on, checked when they are made.

:class:`PathFinderParams` is a frozen value that the path growth, the rendering and the writers
read; making one with values that make no sense raises a one-line ``UserError``, so a bad value
never exists. :func:`locrnn.data.pathfinder.published_params` gives the values of the published sets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..io import UserError


@dataclass(frozen=True)
class PathFinderParams:
    """Everything an image depends on. Lengths are in canvas units; ``size`` is the output side.

    The geometry lives on a ``canvas`` x ``canvas`` square (300 for the paper's sets, whose
    images were drawn at 300 px and fed to the models at 150 px) and is drawn at ``size`` px.
    """

    length: int = 14  # paddles per target path (contour length N)
    size: int = 150  # output image side, px
    canvas: int = 300  # geometry canvas side
    paddle_length: float = 5.0  # L
    thickness: float = 1.5  # t
    margin: tuple[float, ...] = (3.0,)  # m; one value is drawn per image (LRA-128 uses (2, 3))
    continuity: float = 1.8  # c: turns capped at 90 / c degrees; larger = straighter
    seed_distance: float = 27.0  # between the two target seeds
    padding: float = 22.0  # border band excluded for the first target seed
    marker_radius: float = 3.0
    distractor_length: int = 4
    n_distractors: int = 7
    target_contrast: float = 1.0  # paddle intensity of the target paths (markers are 1.0)
    distractor_contrast: float = 1.0
    max_restarts: int = 5000  # target-pair restarts before giving up on an image
    # negatives' marker distance drawn from the positives' distribution (no distance shortcut)
    balance_distance: bool = False

    def __post_init__(self) -> None:
        """Normalise the margin to a tuple of floats, then refuse values that make no sense."""
        m = self.margin
        object.__setattr__(self, "margin", tuple(float(v) for v in (m if isinstance(m, (tuple, list)) else (m,))))
        _check(self)

    @property
    def scale(self) -> float:
        """Output pixels per canvas unit."""
        return self.size / self.canvas

    def spacing(self, margin: float) -> float:
        """Collision distance D = 2 m + t - 1 (at least t + 0.5) between the centre lines of
        non-consecutive paddles: paddles dilated by m overlap by more than one canvas pixel."""
        return max(2 * margin + self.thickness - 1.0, self.thickness + 0.5)

    def weight_zone(self, margin: float) -> float:
        """Candidate heads closer than 2 m + t / 2 (the dilated mask dilated again by m) to a
        committed paddle get weight 0, as in the original."""
        return max(self.spacing(margin), 2 * margin + self.thickness / 2)

    def replace(self, **changes) -> PathFinderParams:
        """A copy with ``changes``, checked like any new value."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        m = "/".join(f"{v:g}" for v in self.margin)
        return (
            f"length {self.length}, {self.size}x{self.size} px (canvas {self.canvas}), L {self.paddle_length:g}, "
            f"margin {m}, continuity {self.continuity:g}, {self.n_distractors} distractors of {self.distractor_length}"
            + (", marker distance balanced" if self.balance_distance else "")
        )


def _check(p: PathFinderParams) -> None:
    """Raise a one-line ``UserError`` naming the first setting of ``p`` that makes no sense."""
    ints = {"length": 1, "size": 4, "canvas": 4, "distractor_length": 1, "n_distractors": 0, "max_restarts": 1}
    for name, lo in ints.items():
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise UserError(f"pathfinder {name} must be an integer >= {lo}, got {v!r}")
    for name in ("paddle_length", "thickness", "continuity", "marker_radius"):
        if not getattr(p, name) > 0:
            raise UserError(f"pathfinder {name} must be > 0, got {getattr(p, name)!r}")
    for name in ("seed_distance", "padding", "target_contrast", "distractor_contrast"):
        if not getattr(p, name) >= 0:
            raise UserError(f"pathfinder {name} must be >= 0, got {getattr(p, name)!r}")
    if not isinstance(p.balance_distance, (bool, np.bool_)):
        raise UserError(f"pathfinder balance_distance must be True or False, got {p.balance_distance!r}")
    if not p.margin or min(p.margin) <= 0:
        raise UserError(f"pathfinder margin must be > 0, got {p.margin!r}")
