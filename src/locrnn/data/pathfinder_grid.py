"""The occupancy grid of the PathFinder generator: where a new paddle may go.

Every committed paddle marks, on a grid of cells 1 / ``res`` canvas units wide, the cells within
the *collision* distance D of its centre line (no other centre line may cross them) and those
within the wider *weight zone* (candidate heads there get weight 0, as in the original). The
border band of width ``padding`` counts as occupied. One grid per slot of the batch machine.
"""

from __future__ import annotations

import math

import numpy as np

from ..io import UserError
from .pathfinder_geometry import distinct_rounds
from .pathfinder_params import PathFinderParams

WEIGHT, COLLIDE = 1, 2  # bits of a cell: weight zone, collision zone


class OccupancyGrid:
    """Occupancy masks of ``slots`` images drawn with parameters ``p``."""

    def __init__(self, p: PathFinderParams, slots: int) -> None:
        D_all = [p.spacing(m) for m in p.margin]
        Dw_all = [p.weight_zone(m) for m in p.margin]
        self.canvas = p.canvas
        # cells of 1 / res canvas units, padded so that stamps never fall off
        self.res = max(1, math.ceil(4.0 / min(D_all)))
        self.pad = math.ceil((max(Dw_all) + 2) * self.res) + 4
        side = p.canvas * self.res + 2 * self.pad
        self.cells = np.zeros((slots, side, side), dtype=np.uint8)
        self.stamp_side = math.ceil((p.paddle_length + 2 * max(Dw_all)) * self.res) + 4
        # the border band of width ``padding`` counts as occupied: centre lines keep D / 2 from it
        self.lo = p.padding + max(D_all) / 2
        self.hi = p.canvas - self.lo
        if self.hi - self.lo < 2 * p.paddle_length:
            raise UserError(f"pathfinder padding {p.padding:g} leaves no room on a {p.canvas}-unit canvas")
        self.samples = np.linspace(0.0, 1.0, math.ceil(p.paddle_length * self.res * 2) + 2)  # along a paddle
        self.queue: list[tuple[np.ndarray, np.ndarray]] = []  # paddles to commit this iteration

    def clear(self, rows: np.ndarray) -> None:
        """Empty the grids of slots ``rows`` (a new image, or a restart), paddles queued too."""
        self.cells[rows] = 0
        if self.queue and len(rows):
            drop = np.zeros(len(self.cells), dtype=bool)
            drop[rows] = True
            self.queue = [(r[~drop[r]], s[~drop[r]]) for r, s in self.queue]

    def blocked(self, rows, x, y, bit: int = COLLIDE):
        """Whether the points (x, y) of slots ``rows`` (broadcast) fall in a cell with ``bit`` set."""
        cy = np.floor(y * self.res).astype(np.int64) + self.pad
        cx = np.floor(x * self.res).astype(np.int64) + self.pad
        return (self.cells[rows, cy, cx] & bit) != 0

    def stamp(self, rows: np.ndarray, segs: np.ndarray) -> None:
        """Commit the paddles segs (n, 4) of slots ``rows``: queued, and drawn into the grid by
        :meth:`flush` at the end of the iteration (each slot acts once per iteration, so nothing
        reads them first)."""
        if len(rows):
            self.queue.append((rows, segs))

    def flush(self, D: np.ndarray, Dw: np.ndarray) -> None:
        """Mark the cells within the weight zone ``Dw[slot]`` and within ``D[slot]`` of every queued
        paddle: squared distances in float32 on a fixed square patch, written in rounds of distinct
        slots."""
        if not self.queue:
            return
        rows = np.concatenate([r for r, _ in self.queue])
        segs = np.concatenate([s for _, s in self.queue])
        self.queue = []
        f, res, P = np.float32, self.res, self.stamp_side
        Dw = Dw[rows]
        x0 = np.floor((np.minimum(segs[:, 0], segs[:, 2]) - Dw) * res) - 1  # patch origin, cells
        y0 = np.floor((np.minimum(segs[:, 1], segs[:, 3]) - Dw) * res) - 1
        k = np.arange(P, dtype=f)
        qx = k - (segs[:, 0] * res - x0 - 0.5).astype(f)[:, None]  # cell centre - tail, cells
        qy = k - (segs[:, 1] * res - y0 - 0.5).astype(f)[:, None]
        dx, dy = ((segs[:, 2] - segs[:, 0]) * res).astype(f), ((segs[:, 3] - segs[:, 1]) * res).astype(f)
        l2 = np.maximum(dx * dx + dy * dy, f(1e-12))
        t = (qx * (dx / l2)[:, None])[:, None, :] + (qy * (dy / l2)[:, None])[:, :, None]  # (n, P, P)
        np.clip(t, 0, 1, out=t)
        ex = qx[:, None, :] - t * dx[:, None, None]
        ey = qy[:, :, None] - t * dy[:, None, None]
        ex *= ex
        ey *= ey
        ex += ey  # squared distance in cells^2
        bits = (ex < ((Dw * res) ** 2).astype(f)[:, None, None]).view(np.uint8)
        bits |= (ex < ((D[rows] * res) ** 2).astype(f)[:, None, None]).view(np.uint8) << 1
        iy = (y0.astype(np.int64) + self.pad)[:, None, None] + np.arange(P)[None, :, None]
        ix = (x0.astype(np.int64) + self.pad)[:, None, None] + np.arange(P)[None, None, :]
        for sel in distinct_rounds(rows):
            self.cells[rows[sel, None, None], iy[sel], ix[sel]] |= bits[sel]

    def free_paddles(self, rows: np.ndarray, segs: np.ndarray) -> np.ndarray:
        """(n, R) whether the paddles segs (n, R, 4) lie inside the border and cross no collision cell."""
        x0, y0, x1, y1 = np.moveaxis(segs, -1, 0)
        inside = (np.minimum(x0, x1) >= self.lo) & (np.maximum(x0, x1) <= self.hi)
        inside &= (np.minimum(y0, y1) >= self.lo) & (np.maximum(y0, y1) <= self.hi)
        t = self.samples
        px = np.clip(x0[..., None] + (x1 - x0)[..., None] * t, 0, self.canvas - 1e-6)
        py = np.clip(y0[..., None] + (y1 - y0)[..., None] * t, 0, self.canvas - 1e-6)
        return inside & ~self.blocked(rows[:, None, None], px, py).any(-1)
