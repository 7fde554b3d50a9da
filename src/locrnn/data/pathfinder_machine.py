"""The batch machine of the PathFinder generator: a chunk of images grown in lock-step.

Every slot runs its own state machine (seed path 0, seed path 1, extend the two targets in turn,
restart both on failure, then seed / extend / retry / skip each distractor) on numpy arrays; the
rules come from :mod:`.pathfinder_growth`, the collision checks from :mod:`.pathfinder_grid`.
Each image draws from its own random stream, so image ``i`` does not depend on the chunk.

With ``balance_distance`` a negative image redraws its target pair until the distance between
its two markers matches a draw from the positives' distribution (:meth:`Machine._balance`).
"""

from __future__ import annotations

import numpy as np

from ..io import UserError
from .pathfinder_geometry import segment_distance
from .pathfinder_grid import WEIGHT, OccupancyGrid
from .pathfinder_growth import SEED_TRIES, TRIES, Growth
from .pathfinder_params import PathFinderParams

CHUNK = 256  # slots advanced in lock-step by one worker call
_POOL = 512  # uniforms drawn per image at a time
_DISTRACTOR_ATTEMPTS = 5
BALANCE_TOL = 0.02  # balance_distance: marker distances match within this share of the path's arc length
BALANCE_WIDEN = 32  # ... a tolerance that grows by itself every this many redraws (so a match always comes)


class Streams:
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


class Machine:
    """Grows images ``start .. start + count - 1`` in lock-step on a fixed number of slots.

    A finished image is stored in the ``out_*`` arrays and its slot takes the next image, so the
    arrays stay full until the queue runs dry. Paths are paddles (x0, y0, x1, y1) = (tail, head)
    in canvas units; path 0 and 1 are the targets, 2.. the distractors.
    """

    def __init__(
        self,
        p: PathFinderParams,
        seed: int,
        split: int,
        start: int,
        count: int,
        slots: int = CHUNK,
        labels: np.ndarray | None = None,
    ):
        self.p, self.start, self.count, self.next = p, start, count, 0
        if p.balance_distance and (labels is None or len(labels) != count):
            raise ValueError("balance_distance needs the label of every image")
        self.labels = labels
        S = max(1, min(slots, count))
        self.rng = Streams(S, seed, split)
        self.ar = np.arange(S)
        self.n_paths, self.maxlen = 2 + p.n_distractors, max(p.length, p.distractor_length)
        self.seg = np.zeros((S, self.n_paths, self.maxlen, 4))
        self.plen = np.zeros((S, self.n_paths), dtype=np.int64)
        self.phase = np.full(S, 3)  # 0 targets, 1 distractors, 2 finished, 3 idle
        self.step = np.zeros(S, dtype=np.int64)  # targets: placements so far (0 .. 2N)
        self.dist = np.zeros(S, dtype=np.int64)  # distractor being grown
        self.attempt = np.zeros(S, dtype=np.int64)
        self.restarts = np.zeros(S, dtype=np.int64)
        self.image = np.full(S, -1)
        self.m, self.D, self.Dw = np.zeros(S), np.ones(S), np.ones(S)  # margin, collision distance, weight zone
        self.target_d = np.full(S, np.nan)  # balance_distance: the marker distance a negative must match
        self.redraws = np.zeros(S, dtype=np.int64)
        self.origin = np.full(S, -1)  # target path carrying the origin marker, when chosen by balancing
        arc = p.paddle_length + (p.length - 1) * (p.paddle_length + 2 * min(p.margin))
        self.tol = BALANCE_TOL * arc
        self.grid = OccupancyGrid(p, S)
        self.rules = Growth(p, self.grid.lo, self.grid.hi)
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
        for a in (self.plen, self.phase, self.step, self.dist, self.attempt, self.restarts, self.redraws):
            a[rows] = 0
        self.target_d[rows], self.origin[rows] = np.nan, -1
        self.grid.clear(rows)
        margins = np.asarray(self.p.margin)
        self.m[rows] = margins[np.minimum((self.rng.take(rows, 1)[:, 0] * len(margins)).astype(int), len(margins) - 1)]
        self.D[rows] = [self.p.spacing(m) for m in self.m[rows]]
        self.Dw[rows] = [self.p.weight_zone(m) for m in self.m[rows]]

    def _finish(self, rows: np.ndarray) -> None:
        img = self.image[rows]
        self.out_seg[img], self.out_plen[img] = self.seg[rows], self.plen[rows]
        self.out_m[img], self.out_restarts[img] = self.m[rows], self.restarts[rows]
        coin = self.rng.take(rows, 1)[:, 0] < 0.5  # target path carrying the origin marker
        self.out_origin[img] = np.where(self.origin[rows] >= 0, self.origin[rows], coin)
        self._load(rows)

    def run(self) -> Machine:
        """Advance every slot one action per iteration until all images are finished."""
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
            self.grid.flush(self.D, self.Dw)
            done = self.ar[self.phase == 2]
            if len(done):
                self._finish(done)

    # ---- actions

    def _seed_first(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        segs = self.rules.first_seeds(self.rng.take(rows, 3))
        ok = self.grid.free_paddles(rows, segs[:, None])[:, 0]
        self._place(rows[ok], 0, segs[ok])
        self.step[rows[ok]] = 1
        self._restart(rows[~ok])

    def _seed_second(self, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        first = self.seg[rows, 0, 0]
        segs = self.rules.second_seeds(first, self.rng.take(rows, 2))
        ok = self.grid.free_paddles(rows, segs[:, None])[:, 0] & (segment_distance(segs, first) >= self.D[rows])
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
        self.grid.stamp(good, self.seg[good, gp, self.plen[good, gp] - 2])  # commit the predecessor
        self.step[good] += 1
        done = good[self.step[good] == 2 * self.p.length]
        if self.p.balance_distance:
            done = self._balance(done)
        for path_ in (0, 1):
            self.grid.stamp(done, self.seg[done, path_, self.p.length - 1])
        self.phase[done] = 1 if self.p.n_distractors else 2

    def _balance(self, rows: np.ndarray) -> np.ndarray:
        """Keep the finished target pairs of ``rows`` whose markers can sit at the wanted distance;
        redraw the others. Positives always pass. A negative's first pair only sets the distance t
        it must match: the end-to-end distance of one of its paths, a draw from the very
        distribution of the positives' marker distance (which is a path's end-to-end distance).
        Later pairs pass when the origin of one path and the end of the other are t apart (within
        a tolerance); that path then carries the origin marker. Returns the rows kept."""
        neg = rows[self.labels[self.image[rows]] == 0]
        if len(neg) == 0:
            return rows
        N, seg = self.p.length, self.seg[neg]
        o, e = seg[:, :2, 0, :2], seg[:, :2, N - 1, 2:]  # (n, path, xy): first tails, last heads
        u = self.rng.take(neg, 2)
        own = np.hypot(*(e - o).transpose(2, 0, 1))  # (n, path)
        fresh = np.isnan(self.target_d[neg])
        self.target_d[neg[fresh]] = np.where(u[fresh, 0] < 0.5, own[fresh, 0], own[fresh, 1])
        cross = np.hypot(*(e[:, ::-1] - o).transpose(2, 0, 1))  # origin of path k, end of path 1 - k
        tol = self.tol * (1 + self.redraws[neg] / BALANCE_WIDEN)
        fits = (np.abs(cross - self.target_d[neg, None]) < tol[:, None]) & ~fresh[:, None]
        ok = fits.any(1)
        self.origin[neg] = np.where(fits.all(1), (u[:, 1] < 0.5).astype(int), fits.argmax(1))
        bad = neg[~ok]
        self.redraws[bad] += 1
        self._clear_targets(bad)
        return rows[~np.isin(rows, bad)]

    def _seed_distractor(self, rows: np.ndarray) -> None:
        """A distractor's seed: the first free one of a few uniform points, uniform orientation."""
        if len(rows) == 0:
            return
        u = self.rng.take(rows, 2 * SEED_TRIES + 1)
        x, y = self.rules.seed_points(u)
        free = ~self.grid.blocked(rows[:, None], x, y, WEIGHT)
        first = free.argmax(1)
        n = self.ar[: len(rows)]
        segs = self.rules.paddles(x[n, first], y[n, first], self.rules.seed_angle(u))
        ok = free.any(1) & self.grid.free_paddles(rows, segs[:, None])[:, 0]
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
        """Draw the next paddle of ``path`` in slots ``rows`` (the pivot / continuity rule), then
        keep the first of the draws that crosses no collision cell and keeps D from the
        uncommitted paddles ``extra`` (n, E, 4); returns the paddles and whether one fitted."""
        n = len(rows)
        prev = self.seg[rows, path, self.plen[rows, path] - 1]

        def weight_blocked(inside, hx, hy):
            return self.grid.blocked(np.broadcast_to(rows[:, None], hx.shape)[inside], hx[inside], hy[inside], WEIGHT)

        seed = self.plen[rows, path] == 1
        segs, alive = self.rules.extensions(prev, self.m[rows], self.rng.take(rows, 2 * TRIES), weight_blocked, seed)
        ok = self.grid.free_paddles(rows, segs) & alive[:, None]
        ok &= (segment_distance(segs[:, :, None, :], extra[:, None, :, :]) >= self.D[rows, None, None]).all(-1)
        first = ok.argmax(1)
        return segs[self.ar[:n], first], ok.any(1)

    # ---- bookkeeping

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
        self._clear_targets(rows)

    def _clear_targets(self, rows: np.ndarray) -> None:
        self.grid.clear(rows)
        self.plen[rows, :2] = 0
        self.step[rows] = 0

    def _distractor_done(self, rows: np.ndarray) -> None:
        path = 2 + self.dist[rows]
        full = self.plen[rows, path] == self.p.distractor_length
        done, dpath = rows[full], path[full]
        for k in range(self.p.distractor_length):  # commit the finished distractor
            self.grid.stamp(done, self.seg[done, dpath, k])
        self._next_distractor(done)

    def _distractor_failed(self, rows: np.ndarray) -> None:
        self.plen[rows, 2 + self.dist[rows]] = 0
        self.attempt[rows] += 1
        self._next_distractor(rows[self.attempt[rows] >= _DISTRACTOR_ATTEMPTS])

    def _next_distractor(self, rows: np.ndarray) -> None:
        self.dist[rows] += 1
        self.attempt[rows] = 0
        self.phase[rows[self.dist[rows] >= self.p.n_distractors]] = 2
