"""The path growth rules of PathFinder: where seeds go and how a path's next paddle is drawn.

Pure functions of uniforms in [0, 1): the batch machine (:mod:`.pathfinder_machine`) draws the
uniforms from each image's random stream, checks the candidates against the occupancy grid and
keeps the first that fits. The rules are described in :mod:`locrnn.data.pathfinder`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .pathfinder_params import PathFinderParams

TRIES = 3  # draws per paddle (original: max_paddle_retrial + 1)
SEED_TRIES = 4  # random points tried per distractor seed attempt
DEAD_END = 1e-4  # total candidate weight below which a path cannot go on


class Growth:
    """The placement rules for parameters ``p`` on the square ``[lo, hi]^2`` of allowed points."""

    def __init__(self, p: PathFinderParams, lo: float, hi: float) -> None:
        self.p, self.lo, self.hi = p, lo, hi
        # turn candidates: bins ~1 canvas unit of arc apart on the circle of radius L + m
        self.cap = math.pi / (2 * p.continuity)
        half = math.floor(self.cap * (p.paddle_length + max(p.margin)))
        self.offsets = np.arange(-half, half + 1, dtype=np.float64)

    def paddles(self, x, y, th) -> np.ndarray:
        """Paddles (..., 4) with tails (x, y) pointing at angle ``th``."""
        L = self.p.paddle_length
        return np.stack([x, y, x + L * np.cos(th), y + L * np.sin(th)], -1)

    def first_seeds(self, u: np.ndarray) -> np.ndarray:
        """Path 0's seed from u (n, 3): tail uniform in the centre, outside a band of
        max(padding, 2 seed_distance); uniform orientation."""
        p = self.p
        lo = min(max(p.padding, 2 * p.seed_distance), p.canvas / 2 - 0.5)
        return self.paddles(
            lo + u[:, 0] * (p.canvas - 2 * lo), lo + u[:, 1] * (p.canvas - 2 * lo), (2 * u[:, 2] - 1) * math.pi
        )

    def second_seeds(self, first: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Path 1's seed from u (n, 2): tail exactly seed_distance from the tail of path 0's seed
        paddle ``first`` (n, 4), in a uniform direction; uniform orientation."""
        p = self.p
        phi = (2 * u[:, 0] - 1) * math.pi
        x, y = first[:, 0] + p.seed_distance * np.cos(phi), first[:, 1] + p.seed_distance * np.sin(phi)
        return self.paddles(x, y, (2 * u[:, 1] - 1) * math.pi)

    def seed_points(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidate tails (n, SEED_TRIES) of a distractor's seed from u (n, 2 SEED_TRIES + 1),
        uniform inside the border; the last uniform gives the orientation (:meth:`seed_angle`)."""
        t = SEED_TRIES
        return self.lo + u[:, :t] * (self.hi - self.lo), self.lo + u[:, t : 2 * t] * (self.hi - self.lo)

    @staticmethod
    def seed_angle(u: np.ndarray) -> np.ndarray:
        return (2 * u[:, -1] - 1) * math.pi

    def pivots(self, prev: np.ndarray, m: np.ndarray, seed: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """The point P each next paddle turns about, and the direction theta of ``prev`` (n, 4).

        P = head + m u(theta), rounded *up* to whole canvas units in x and y, as the original
        does (its ``translate_coord`` uses ``ceil``): the path drifts by about (+1/2, +1/2) canvas
        unit per paddle whatever its direction, which widens the spread of its end-to-end
        distance. After a ``seed`` paddle the original rounds up three times (head, a pivot behind
        the tail, then the pivot ahead), so do we.
        """
        th = np.arctan2(prev[:, 3] - prev[:, 1], prev[:, 2] - prev[:, 0])
        c, s, L = np.cos(th), np.sin(th), self.p.paddle_length
        up = lambda v: np.ceil(v - 1e-9)  # noqa: E731  (an exact whole number stays put)
        px, py = up(prev[:, 2] + m * c), up(prev[:, 3] + m * s)
        if seed is not None and seed.any():
            hx, hy = up(prev[:, 0] + L * c), up(prev[:, 1] + L * s)
            bx, by = up(hx - (L + m) * c), up(hy - (L + m) * s)
            px = np.where(seed, up(bx + (L + 2 * m) * c), px)
            py = np.where(seed, up(by + (L + 2 * m) * s), py)
        return px, py, th

    def extensions(
        self,
        prev: np.ndarray,
        m: np.ndarray,
        u: np.ndarray,
        weight_blocked: Callable,
        seed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """TRIES draws (n, TRIES, 4) of the paddle after ``prev`` (n, 4) with margins ``m`` (n,),
        from u (n, 2 TRIES), and whether each path can go on at all (n,).

        Pivot rule: the next paddle turns about P (:meth:`pivots`, about head + m u(theta)); its
        tail is P + m u(theta'), its head P + (L + m) u(theta'). Continuity rule: the turn
        d = theta' - theta is drawn with
        weight cos^2(c d) for |c d| < 90 degrees over candidate heads about one canvas unit apart,
        then jittered uniformly inside its bin. Candidate heads outside the border, or where
        ``weight_blocked(inside, hx, hy)`` (the heads ``hx[inside], hy[inside]``) is true, weigh 0;
        a total weight below DEAD_END is a dead end.
        """
        p, n = self.p, len(prev)
        L = p.paddle_length
        pivx, pivy, th = self.pivots(prev, m, seed)
        step = 1.0 / (L + m)  # bin width, radians: ~1 canvas unit of arc
        turns = self.offsets[None, :] * step[:, None]  # (n, K)
        ang = th[:, None] + turns
        r, mm = (L + m)[:, None], m[:, None]
        hx, hy = pivx[:, None] + r * np.cos(ang), pivy[:, None] + r * np.sin(ang)
        tx, ty = pivx[:, None] + mm * np.cos(ang), pivy[:, None] + mm * np.sin(ang)
        w = np.where(np.abs(turns) < self.cap, np.cos(np.minimum(p.continuity * np.abs(turns), math.pi / 2)) ** 2, 0.0)
        inside = (np.minimum(hx, tx) >= self.lo) & (np.maximum(hx, tx) <= self.hi)
        inside &= (np.minimum(hy, ty) >= self.lo) & (np.maximum(hy, ty) <= self.hi)
        w = np.where(inside, w, 0.0)
        w[inside] *= ~weight_blocked(inside, hx, hy)
        total = w.sum(1)
        cw = np.cumsum(w, 1)
        pick = np.minimum(
            (cw[:, None, :] <= (u[:, :TRIES] * total[:, None])[:, :, None]).sum(-1), len(self.offsets) - 1
        )
        turn = turns[np.arange(n)[:, None], pick] + (u[:, TRIES:] - 0.5) * step[:, None]  # jitter within the bin
        a = th[:, None] + np.clip(turn, -self.cap * (1 - 1e-9), self.cap * (1 - 1e-9))
        px, py = pivx[:, None], pivy[:, None]
        ca, sa = np.cos(a), np.sin(a)
        segs = np.stack([px + mm * ca, py + mm * sa, px + (L + mm) * ca, py + (L + mm) * sa], -1)
        return segs, total >= DEAD_END
