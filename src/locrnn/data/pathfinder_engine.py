"""The PathFinder engine: a chunk of images grown in lock-step with numpy, then drawn.

The rules (pivot, continuity, collision, seeds, distractors, rendering) are described in
:mod:`locrnn.data.pathfinder`; this module only implements them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..io import UserError

if TYPE_CHECKING:
    from .pathfinder import PathFinderParams

CHUNK = 256  # slots advanced in lock-step by one worker call
_POOL = 512  # uniforms drawn per image at a time
_TRIES = 3  # draws per paddle (original: max_paddle_retrial + 1)
_SEED_TRIES = 4  # random points tried per distractor seed attempt
_DISTRACTOR_ATTEMPTS = 5


# --------------------------------------------------------------------------- random streams


class _Streams:
    """One random stream per image (``SeedSequence([seed, split, index])``), consumed through a
    refillable pool of uniforms; a slot of the machine holds the stream of its current image."""

    def __init__(self, slots: int, seed: int, split: int) -> None:
        self.seed, self.split = seed, split
        self.gens: list[np.random.Generator | None] = [None] * slots
        self.pool = np.zeros((slots, _POOL))
        self.ptr = np.zeros(slots, dtype=np.int64)

    def load(self, slot: int, index: int) -> None:
        g = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, self.split, int(index)])))
        self.gens[slot] = g
        self.pool[slot] = g.random(_POOL)
        self.ptr[slot] = 0

    def take(self, rows: np.ndarray, k: int) -> np.ndarray:
        """(len(rows), k) uniforms, the next k of each listed slot's stream."""
        for r in rows[self.ptr[rows] + k > _POOL]:  # rare: refill, keeping the unused tail in order
            rest = self.pool[r, self.ptr[r] :]
            self.pool[r] = np.concatenate([rest, self.gens[r].random(_POOL - len(rest))])
            self.ptr[r] = 0
        cols = self.ptr[rows, None] + np.arange(k)
        self.ptr[rows] += k
        return self.pool[rows[:, None], cols]


# --------------------------------------------------------------------------- geometry helpers


def point_segment_distance(px, py, ax, ay, bx, by):
    """Distance from points (px, py) to segments (a, b); all arguments broadcast."""
    dx, dy = bx - ax, by - ay
    l2 = np.maximum(dx * dx + dy * dy, 1e-12)
    s = np.clip(((px - ax) * dx + (py - ay) * dy) / l2, 0.0, 1.0)
    return np.hypot(px - ax - s * dx, py - ay - s * dy)


def segment_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between segments a and b, arrays (..., 4) of (x0, y0, x1, y1); 0 if they cross."""
    ax0, ay0, ax1, ay1 = np.moveaxis(a, -1, 0)
    bx0, by0, bx1, by1 = np.moveaxis(b, -1, 0)
    d = np.minimum(
        np.minimum(
            point_segment_distance(ax0, ay0, bx0, by0, bx1, by1), point_segment_distance(ax1, ay1, bx0, by0, bx1, by1)
        ),
        np.minimum(
            point_segment_distance(bx0, by0, ax0, ay0, ax1, ay1), point_segment_distance(bx1, by1, ax0, ay0, ax1, ay1)
        ),
    )
    cross = lambda ox, oy, px, py, qx, qy: (px - ox) * (qy - oy) - (py - oy) * (qx - ox)
    d1, d2 = cross(ax0, ay0, ax1, ay1, bx0, by0), cross(ax0, ay0, ax1, ay1, bx1, by1)
    d3, d4 = cross(bx0, by0, bx1, by1, ax0, ay0), cross(bx0, by0, bx1, by1, ax1, ay1)
    return np.where((d1 * d2 < 0) & (d3 * d4 < 0), 0.0, d)


# --------------------------------------------------------------------------- the machine


def _rounds(rows: np.ndarray) -> list[np.ndarray]:
    """Split positions 0 .. len(rows)-1 into groups with distinct ``rows`` (a fancy-indexed
    read-modify-write is only safe without repeated indices)."""
    order = np.argsort(rows, kind="stable")
    ranked = rows[order]
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows)) - np.searchsorted(ranked, ranked, side="left")
    if rank.max(initial=0) == 0:
        return [np.arange(len(rows))]
    return [np.flatnonzero(rank == r) for r in range(rank.max() + 1)]


_WEIGHT, _COLLIDE = 1, 2  # bits of the occupancy grid: weight zone, collision zone


class Machine:
    """Grows images ``start .. start + count - 1`` in lock-step on a fixed number of slots.

    Every slot runs its own state machine (seed path 0, seed path 1, extend the targets in turn,
    restart on failure, then seed / extend / retry / skip each distractor). A finished image is
    stored and its slot takes the next image, so the arrays stay full until the queue runs dry.
    """

    def __init__(self, p: PathFinderParams, seed: int, split: int, start: int, count: int, slots: int = CHUNK):
        self.p, self.start, self.count, self.next = p, start, count, 0
        S = max(1, min(slots, count))
        self.rng = _Streams(S, seed, split)
        self.ar = np.arange(S)
        self.n_paths, self.maxlen = 2 + p.n_distractors, max(p.length, p.distractor_length)
        self.seg = np.zeros((S, self.n_paths, self.maxlen, 4))  # (x0, y0, x1, y1) = (tail, head)
        self.plen = np.zeros((S, self.n_paths), dtype=np.int64)
        self.phase = np.full(S, 3)  # 0 targets, 1 distractors, 2 finished, 3 idle
        self.step = np.zeros(S, dtype=np.int64)  # targets: placements so far (0 .. 2N)
        self.dist = np.zeros(S, dtype=np.int64)  # distractor being grown
        self.attempt = np.zeros(S, dtype=np.int64)
        self.restarts = np.zeros(S, dtype=np.int64)
        self.image = np.full(S, -1)
        self.queue: list[tuple[np.ndarray, np.ndarray]] = []  # paddles to commit this iteration
        self.m, self.D, self.Dw = np.zeros(S), np.ones(S), np.ones(S)
        D_all = [p.spacing(m) for m in p.margin]
        Dw_all = [p.weight_zone(m) for m in p.margin]
        # occupancy grid: cells of 1 / res canvas units, padded so that stamps never fall off
        self.res = max(1, math.ceil(4.0 / min(D_all)))
        self.pad = math.ceil((max(Dw_all) + 2) * self.res) + 4
        side = p.canvas * self.res + 2 * self.pad
        self.grid = np.zeros((S, side, side), dtype=np.uint8)
        self.stamp_side = math.ceil((p.paddle_length + 2 * max(Dw_all)) * self.res) + 4
        # the border band of width ``padding`` counts as occupied: centre lines keep D / 2 from it
        self.lo = p.padding + max(D_all) / 2
        self.hi = p.canvas - self.lo
        if self.hi - self.lo < 2 * p.paddle_length:
            raise UserError(f"pathfinder padding {p.padding:g} leaves no room on a {p.canvas}-unit canvas")
        # turn candidates: bins ~1 canvas unit of arc apart on the circle of radius L + m
        self.cap = math.pi / (2 * p.continuity)
        half = math.floor(self.cap * (p.paddle_length + max(p.margin)))
        self.offsets = np.arange(-half, half + 1, dtype=np.float64)
        self.samples = np.linspace(0.0, 1.0, math.ceil(p.paddle_length * self.res * 2) + 2)
        # finished images
        self.out_seg = np.zeros((count, self.n_paths, self.maxlen, 4))
        self.out_plen = np.zeros((count, self.n_paths), dtype=np.int64)
        self.out_m = np.zeros(count)
        self.out_restarts = np.zeros(count, dtype=np.int64)
        self.out_origin = np.zeros(count, dtype=np.int64)
        self._load(self.ar)

    # ---- slots

    def _load(self, rows: np.ndarray) -> None:
        take = min(len(rows), self.count - self.next)
        rows, idle = rows[:take], rows[take:]
        self.phase[idle], self.image[idle] = 3, -1
        if take == 0:
            return
        self.image[rows] = np.arange(self.next, self.next + take)
        self.next += take
        for r in rows:
            self.rng.load(r, self.start + self.image[r])
        for a in (self.plen, self.phase, self.step, self.dist, self.attempt, self.restarts):
            a[rows] = 0
        self.grid[rows] = 0
        margins = np.asarray(self.p.margin)
        self.m[rows] = margins[np.minimum((self.rng.take(rows, 1)[:, 0] * len(margins)).astype(int), len(margins) - 1)]
        self.D[rows] = [self.p.spacing(m) for m in self.m[rows]]
        self.Dw[rows] = [self.p.weight_zone(m) for m in self.m[rows]]

    def _finish(self, rows: np.ndarray) -> None:
        img = self.image[rows]
        self.out_seg[img], self.out_plen[img] = self.seg[rows], self.plen[rows]
        self.out_m[img], self.out_restarts[img] = self.m[rows], self.restarts[rows]
        self.out_origin[img] = self.rng.take(rows, 1)[:, 0] < 0.5  # target path carrying the origin marker
        self._load(rows)

    def run(self) -> Machine:
        while True:
            act = self.ar[self.phase < 2]
            if len(act) == 0:
                return self
            ph, st = self.phase[act], self.step[act]
            self._seed_first(act[(ph == 0) & (st == 0)])
            self._seed_second(act[(ph == 0) & (st == 1)])
            self._extend_targets(act[(ph == 0) & (st >= 2)])
            k = self.plen[act, np.minimum(2 + self.dist[act], self.n_paths - 1)]
            self._seed_distractor(act[(ph == 1) & (k == 0)])
            self._extend_distractor(act[(ph == 1) & (k > 0)])
            self._flush()
            done = self.ar[self.phase == 2]
            if len(done):
                self._finish(done)

    # ---- occupancy grid

    def blocked(self, rows, x, y, bit: int = _COLLIDE):
        """Whether the points (x, y) of slots ``rows`` (broadcast) fall in a cell with ``bit`` set."""
        cy = np.floor(y * self.res).astype(np.int64) + self.pad
        cx = np.floor(x * self.res).astype(np.int64) + self.pad
        return (self.grid[rows, cy, cx] & bit) != 0

    def stamp(self, rows: np.ndarray, segs: np.ndarray) -> None:
        """Commit the paddles segs (n, 4) of slots ``rows``: queued, and drawn into the grid at
        the end of the iteration (each slot acts once per iteration, so nothing reads them first)."""
        if len(rows):
            self.queue.append((rows, segs))

    def _flush(self) -> None:
        """Mark the cells within the weight zone and within D of every queued paddle: squared
        distances in float32 on a fixed square patch, written in rounds of distinct slots."""
        if not self.queue:
            return
        rows = np.concatenate([r for r, _ in self.queue])
        segs = np.concatenate([s for _, s in self.queue])
        self.queue = []
        f, res, P = np.float32, self.res, self.stamp_side
        Dw = self.Dw[rows]
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
        bits |= (ex < ((self.D[rows] * res) ** 2).astype(f)[:, None, None]).view(np.uint8) << 1
        iy = (y0.astype(np.int64) + self.pad)[:, None, None] + np.arange(P)[None, :, None]
        ix = (x0.astype(np.int64) + self.pad)[:, None, None] + np.arange(P)[None, None, :]
        for sel in _rounds(rows):
            self.grid[rows[sel, None, None], iy[sel], ix[sel]] |= bits[sel]

    def free_paddles(self, rows: np.ndarray, segs: np.ndarray) -> np.ndarray:
        """(n, R) whether the paddles segs (n, R, 4) lie inside the border and cross no collision cell."""
        x0, y0, x1, y1 = np.moveaxis(segs, -1, 0)
        inside = (np.minimum(x0, x1) >= self.lo) & (np.maximum(x0, x1) <= self.hi)
        inside &= (np.minimum(y0, y1) >= self.lo) & (np.maximum(y0, y1) <= self.hi)
        t = self.samples
        px = np.clip(x0[..., None] + (x1 - x0)[..., None] * t, 0, self.p.canvas - 1e-6)
        py = np.clip(y0[..., None] + (y1 - y0)[..., None] * t, 0, self.p.canvas - 1e-6)
        return inside & ~self.blocked(rows[:, None, None], px, py).any(-1)

    # ---- actions

    def _paddles(self, x, y, th):
        L = self.p.paddle_length
        return np.stack([x, y, x + L * np.cos(th), y + L * np.sin(th)], -1)

    def _seed_first(self, rows: np.ndarray) -> None:
        """Path 0's seed: tail uniform in the centre, outside a band of max(padding, 2 seed_distance)."""
        if len(rows) == 0:
            return
        p = self.p
        u = self.rng.take(rows, 3)
        lo = min(max(p.padding, 2 * p.seed_distance), p.canvas / 2 - 0.5)
        segs = self._paddles(
            lo + u[:, 0] * (p.canvas - 2 * lo), lo + u[:, 1] * (p.canvas - 2 * lo), (2 * u[:, 2] - 1) * math.pi
        )
        ok = self.free_paddles(rows, segs[:, None])[:, 0]
        self._place(rows[ok], 0, segs[ok])
        self.step[rows[ok]] = 1
        self._restart(rows[~ok])

    def _seed_second(self, rows: np.ndarray) -> None:
        """Path 1's seed: tail exactly seed_distance from path 0's tail, in a uniform direction."""
        if len(rows) == 0:
            return
        p = self.p
        u = self.rng.take(rows, 2)
        first = self.seg[rows, 0, 0]
        phi = (2 * u[:, 0] - 1) * math.pi
        x, y = first[:, 0] + p.seed_distance * np.cos(phi), first[:, 1] + p.seed_distance * np.sin(phi)
        segs = self._paddles(x, y, (2 * u[:, 1] - 1) * math.pi)
        ok = self.free_paddles(rows, segs[:, None])[:, 0] & (segment_distance(segs, first) >= self.D[rows])
        self._place(rows[ok], 1, segs[ok])
        self.step[rows[ok]] = 2
        self._restart(rows[~ok])

    def _extend_targets(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        path = self.step[rows] % 2
        other = 1 - path
        sib = self.seg[rows, other, self.plen[rows, other] - 1]  # the other path's newest (uncommitted) paddle
        new, ok = self._extend(rows, path, sib[:, None, :])
        self._restart(rows[~ok])
        good, gp = rows[ok], path[ok]
        if len(good) == 0:
            return
        self._place(good, gp, new[ok])
        self.stamp(good, self.seg[good, gp, self.plen[good, gp] - 2])  # commit the predecessor
        self.step[good] += 1
        done = good[self.step[good] == 2 * self.p.length]
        for path_ in (0, 1):
            self.stamp(done, self.seg[done, path_, self.p.length - 1])
        self.phase[done] = 1 if self.p.n_distractors else 2

    def _seed_distractor(self, rows: np.ndarray) -> None:
        """A distractor's seed: the first free one of a few uniform points, uniform orientation."""
        if len(rows) == 0:
            return
        t = _SEED_TRIES
        u = self.rng.take(rows, 2 * t + 1)
        x, y = self.lo + u[:, :t] * (self.hi - self.lo), self.lo + u[:, t : 2 * t] * (self.hi - self.lo)
        free = ~self.blocked(rows[:, None], x, y, _WEIGHT)
        first = free.argmax(1)
        n = self.ar[: len(rows)]
        segs = self._paddles(x[n, first], y[n, first], (2 * u[:, -1] - 1) * math.pi)
        ok = free.any(1) & self.free_paddles(rows, segs[:, None])[:, 0]
        self._place(rows[ok], 2 + self.dist[rows[ok]], segs[ok])
        self._distractor_done(rows[ok])
        self._distractor_failed(rows[~ok])

    def _extend_distractor(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        path = 2 + self.dist[rows]
        own = self.seg[rows, path].copy()  # uncommitted: test against own paddles 0 .. k-2
        own[np.arange(self.maxlen)[None, :] >= self.plen[rows, path][:, None] - 1] = -1e6  # far away
        new, ok = self._extend(rows, path, own)
        self._place(rows[ok], path[ok], new[ok])
        self._distractor_done(rows[ok])
        self._distractor_failed(rows[~ok])

    def _extend(self, rows, path, extra) -> tuple[np.ndarray, np.ndarray]:
        """Draw the next paddle of ``path`` in slots ``rows``: the pivot/continuity rule, then up
        to 3 draws checked against the grid and the uncommitted paddles ``extra`` (n, E, 4)."""
        p, n = self.p, len(rows)
        prev = self.seg[rows, path, self.plen[rows, path] - 1]
        th = np.arctan2(prev[:, 3] - prev[:, 1], prev[:, 2] - prev[:, 0])
        m, L = self.m[rows], p.paddle_length
        pivx, pivy = prev[:, 2] + m * np.cos(th), prev[:, 3] + m * np.sin(th)
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
        w[inside] *= ~self.blocked(np.broadcast_to(rows[:, None], hx.shape)[inside], hx[inside], hy[inside], _WEIGHT)
        total = w.sum(1)
        u = self.rng.take(rows, 2 * _TRIES)
        cw = np.cumsum(w, 1)
        pick = np.minimum(
            (cw[:, None, :] <= (u[:, :_TRIES] * total[:, None])[:, :, None]).sum(-1), len(self.offsets) - 1
        )
        turn = turns[self.ar[:n, None], pick] + (u[:, _TRIES:] - 0.5) * step[:, None]  # jitter within the bin
        a = th[:, None] + np.clip(turn, -self.cap * (1 - 1e-9), self.cap * (1 - 1e-9))
        px, py = pivx[:, None], pivy[:, None]
        ca, sa = np.cos(a), np.sin(a)
        segs = np.stack([px + mm * ca, py + mm * sa, px + (L + mm) * ca, py + (L + mm) * sa], -1)
        ok = self.free_paddles(rows, segs) & (total >= 1e-4)[:, None]
        ok &= (segment_distance(segs[:, :, None, :], extra[:, None, :, :]) >= self.D[rows, None, None]).all(-1)
        first = ok.argmax(1)
        return segs[self.ar[:n], first], ok.any(1)

    def _place(self, rows, path, segs) -> None:
        k = self.plen[rows, path]
        self.seg[rows, path, k] = segs
        self.plen[rows, path] = k + 1

    def _restart(self, rows: np.ndarray) -> None:
        """Discard both target paths (and the grid, which holds nothing else yet)."""
        if len(rows) == 0:
            return
        self.restarts[rows] += 1
        if self.restarts[rows].max() > self.p.max_restarts:
            raise UserError(
                f"could not fit two paths of {self.p.length} paddles on a {self.p.canvas}-unit canvas in "
                f"{self.p.max_restarts} tries; use a shorter length, a larger canvas or a lower continuity"
            )
        self.grid[rows] = 0
        self.plen[rows, :2] = 0
        self.step[rows] = 0

    def _distractor_done(self, rows: np.ndarray) -> None:
        path = 2 + self.dist[rows]
        full = self.plen[rows, path] == self.p.distractor_length
        done, dpath = rows[full], path[full]
        for k in range(self.p.distractor_length):  # commit the finished distractor
            self.stamp(done, self.seg[done, dpath, k])
        self._next_distractor(done)

    def _distractor_failed(self, rows: np.ndarray) -> None:
        self.plen[rows, 2 + self.dist[rows]] = 0
        self.attempt[rows] += 1
        self._next_distractor(rows[self.attempt[rows] >= _DISTRACTOR_ATTEMPTS])

    def _next_distractor(self, rows: np.ndarray) -> None:
        self.dist[rows] += 1
        self.attempt[rows] = 0
        self.phase[rows[self.dist[rows] >= self.p.n_distractors]] = 2


# --------------------------------------------------------------------------- rendering


def _draw(img, rows, cx0, cy0, profile, pad) -> None:
    """Max-combine patches (n, side, side) whose top-left pixels are (cx0, cy0) into ``img``."""
    side = profile.shape[1]
    iy = (cy0 + pad)[:, None, None] + np.arange(side)[None, :, None]
    ix = (cx0 + pad)[:, None, None] + np.arange(side)[None, None, :]
    for sel in _rounds(rows):
        r, y, x = rows[sel, None, None], iy[sel], ix[sel]
        img[r, y, x] = np.maximum(img[r, y, x], profile[sel])


def _draw_segments(img, rows, segs, width, value, pad) -> None:
    """Anti-aliased lines: the box-filter coverage of a line of ``width`` px (round caps),
    min(w, 1) near the centre line falling linearly to 0 at (w + 1) / 2."""
    if len(rows) == 0:
        return
    side = math.ceil(np.abs(segs[:, :2] - segs[:, 2:]).max(initial=0) + width) + 4
    x0 = np.floor(np.minimum(segs[:, 0], segs[:, 2]) - width / 2).astype(np.int64) - 1
    y0 = np.floor(np.minimum(segs[:, 1], segs[:, 3]) - width / 2).astype(np.int64) - 1
    k = np.arange(side)
    px, py = (x0[:, None] + k + 0.5)[:, None, :], (y0[:, None] + k + 0.5)[:, :, None]
    s = segs[:, :, None, None]
    d = point_segment_distance(px, py, s[:, 0], s[:, 1], s[:, 2], s[:, 3])
    cov = np.clip((width + 1) / 2 - d, 0.0, min(width, 1.0)) * np.asarray(value)[:, None, None]
    _draw(img, rows, x0, y0, cov, pad)


def _draw_discs(img, rows, centres, radius, pad) -> None:
    """Anti-aliased filled discs of intensity 1."""
    side = math.ceil(2 * radius) + 4
    x0 = np.floor(centres[:, 0] - radius).astype(np.int64) - 1
    y0 = np.floor(centres[:, 1] - radius).astype(np.int64) - 1
    k = np.arange(side)
    dx, dy = (x0[:, None] + k + 0.5) - centres[:, :1], (y0[:, None] + k + 0.5) - centres[:, 1:]
    d = np.hypot(dx[:, None, :], dy[:, :, None])
    _draw(img, rows, x0, y0, np.clip(radius + 0.5 - d, 0.0, min(1.0, math.pi * radius * radius)), pad)


def render(p: PathFinderParams, seg, plen, labels, origin, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Draw images from paddles ``seg`` (n, paths, maxlen, 4) in canvas units; returns uint8
    images (n, size, size) and marker centres (n, 2, 2) in px."""
    n, s = len(labels), p.scale
    rows = np.arange(n)
    terminal = np.where(labels == 1, origin, 1 - origin)
    markers = np.stack([seg[rows, origin, 0, :2], seg[rows, terminal, p.length - 1, 2:]], 1) * s
    out = np.empty((n, p.size, p.size), dtype=np.uint8)
    pad = math.ceil((p.paddle_length + p.thickness + 2 * p.marker_radius) * s) + 4
    for a in range(0, n, batch):
        m = min(batch, n - a)
        img = np.zeros((m, p.size + 2 * pad, p.size + 2 * pad), dtype=np.float32)
        b, path, k = np.nonzero(np.arange(seg.shape[2])[None, None, :] < plen[a : a + m, :, None])
        contrast = np.where(path < 2, p.target_contrast, p.distractor_contrast)
        _draw_segments(img, b, seg[a + b, path, k] * s, p.thickness * s, contrast, pad)
        _draw_discs(img, np.repeat(np.arange(m), 2), markers[a : a + m].reshape(-1, 2), p.marker_radius * s, pad)
        img = img[:, pad:-pad, pad:-pad]
        top = img.max(axis=(1, 2))
        out[a : a + m] = np.rint(img * (255.0 / np.maximum(top, 1e-12))[:, None, None])
    return out, markers
