"""The original PathFinder generator's target paths, re-implemented to measure their statistics.

    .venv/bin/python benchmarks/pathfinder_original.py            # 600 images per length 6, 9, 14
    .venv/bin/python benchmarks/pathfinder_original.py --n 2000 --compare

The issue (#19) gives the original generator's marker distances (drewlinsley/pathfinder at
ab9c130, main wrapper, 300 px drawn, 150 px kept: L 5, margin 3, thickness 2, continuity 1.8,
padding 22, seeds 27 apart, anti-aliasing 2). It does not give the paths' turning, and the
original (Python 2, scipy.misc, OpenCV) does not run here, so this script grows the two target
paths by the original's rules, written anew from reading them (only what moves a path's shape;
distractors and markers never move the target paths' ends):

* integer pixels (row, column) on the 300 px canvas; a border band of width ``padding`` is
  occupied; every paddle has a *mask*: the paddle drawn at 2x with width round(2 t) (PIL),
  dilated by a disc of radius 2 m, Lanczos-downsampled (values 0..1);
* first seed: orientation a whole degree; tail a pixel whose paddle mask stays clear of a band
  of 2 seed_distance; head = ceil(tail + L u), pivot = ceil(head - (L + m) u); second seed: tail
  round(tail1 + seed_distance u(phi)) for a whole degree phi, any orientation; only bounds
  checked;
* extension: the pivot moves to ceil(pivot + (L + 2 m) u(theta)) (theta: the last paddle's
  orientation), candidate heads are the distinct truncated pixels of points 1 px of arc apart
  on the circle of radius L + m around it, each of orientation o = atan2(head - pivot); weight
  cos^2(min(c |o - theta|, 90 deg)) x (1 - occupancy dilated by a disc of radius m); a draw is
  kept if max(occupancy + its mask) < 1.8, up to 3 draws; the previous paddle's mask joins the
  occupancy when its successor is kept; paths 0 and 1 take turns; any failure restarts both;
* the markers sit on a path's first tail and last head.

Prints, per length, the positives' marker distance (150 px) and the total turning of a target
path (sum of |turn| between consecutive paddles, degrees), mean / sd; ``--compare`` adds
locrnn's generator side by side.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from PIL import Image, ImageDraw


def _disc(r: int) -> np.ndarray:
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def _ceil_move(p, theta: float, dist: float) -> tuple[int, int]:
    """(row, col) moved by ``dist`` along ``theta`` (x = cos, row = sin), rounded up."""
    return int(math.ceil(p[0] + dist * math.sin(theta))), int(math.ceil(p[1] + dist * math.cos(theta)))


def _dilate(a: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Grey dilation of ``a`` by the footprint ``fp`` (odd square), outside = -inf."""
    r = fp.shape[0] // 2
    pad = np.pad(a, r, constant_values=-np.inf)
    out = np.full_like(a, -np.inf)
    for dy, dx in zip(*np.nonzero(fp), strict=True):
        np.maximum(out, pad[dy : dy + a.shape[0], dx : dx + a.shape[1]], out=out)
    return out


class Original:
    """The original's target-path growth with its parameters (300 px canvas units)."""

    def __init__(self, length: int, *, L=5, m=3, t=2.0, c=1.8, padding=22, seed_distance=27, aa=2, size=300):
        self.N, self.L, self.m, self.t, self.c, self.aa, self.size = length, L, m, t, c, aa, size
        self.padding, self.sd = padding, seed_distance
        self.K = L + int(math.ceil(t)) + m  # half side of a paddle patch
        self.big, self.small = _disc(m * aa), _disc(m)
        self._cache: dict[float, np.ndarray] = {}
        r = L + m
        step = 360.0 / (2 * r * math.pi)
        self.circle = np.arange(0, 360, step) * math.pi / 180

    def patch(self, theta: float) -> np.ndarray:
        """The mask (2K+1)^2 of a paddle starting at the patch centre along ``theta``."""
        if theta not in self._cache:
            K, aa = self.K, self.aa
            side, c = K * 2 * aa + 1, K * aa
            head = _ceil_move((c, c), theta, self.L * aa)
            im = Image.new("F", (side, side), 0.0)
            ImageDraw.Draw(im).line([(c, c), (head[1], head[0])], fill=255.0, width=int(round(self.t * aa)))
            dil = _dilate(np.asarray(im, dtype=np.float64), self.big).astype(np.uint8)
            small = Image.fromarray(dil, "L").resize((2 * K + 1, 2 * K + 1), Image.LANCZOS)
            self._cache[theta] = np.asarray(small, dtype=np.float64) / 255
        return self._cache[theta]

    def place(self, at, theta: float) -> tuple[tuple[slice, slice], np.ndarray]:
        """Where the paddle mask drawn from ``at`` along ``theta`` lands: canvas slices and values."""
        K, S, P = self.K, self.size, self.patch(theta)
        y0, x0 = at[0] - K, at[1] - K
        ys, xs = max(y0, 0), max(x0, 0)
        ye, xe = min(y0 + 2 * K, S - 1), min(x0 + 2 * K, S - 1)
        if ye < ys or xe < xs:
            return (slice(0, 0), slice(0, 0)), np.zeros((0, 0))
        return (slice(ys, ye + 1), slice(xs, xe + 1)), P[ys - y0 : ye - y0 + 1, xs - x0 : xe - x0 + 1]

    def full(self, at, theta: float) -> np.ndarray:
        out = np.zeros((self.size, self.size))
        sl, v = self.place(at, theta)
        out[sl] = v
        return out

    def _inb(self, p) -> bool:
        return 0 <= p[0] < self.size and 0 <= p[1] < self.size

    def _seed_box(self, theta: float) -> tuple[int, int, int, int]:
        """Rows/cols where a first seed's tail may go: the core (value 1) of its mask, anchored as
        the original's structuring element, keeps clear of the 2 seed_distance band."""
        n = 2 * (self.L + self.m) + 1
        a = self.L + self.m  # kernel anchor (centre); the paddle starts one pixel further
        k = np.zeros((n, n))
        # the structuring element: the mask drawn on an n x n canvas from (a + 1, a + 1)
        K, P = self.K, self.patch(theta)
        y0 = a + 1 - K
        for i in range(n):
            for j in range(n):
                pi, pj = i - y0, j - y0
                if 0 <= pi < P.shape[0] and 0 <= pj < P.shape[1]:
                    k[i, j] = P[pi, pj]
        ky, kx = np.nonzero(k.astype(np.uint8))
        lo, hi = 2 * self.sd, self.size - 2 * self.sd - 1
        return lo - (ky.min() - a), hi - (ky.max() - a), lo - (kx.min() - a), hi - (kx.max() - a)

    def _seed(self, rng, first=None):
        for _ in range(3):
            theta = rng.integers(-180, 180) * math.pi / 180
            if first is None:
                r0, r1, c0, c1 = self._seed_box(theta)
                tail = (int(rng.integers(r0, r1 + 1)), int(rng.integers(c0, c1 + 1)))
            else:
                phi = rng.integers(0, 360) * math.pi / 180
                tail = (
                    int(np.round(first[0] + self.sd * math.sin(phi))),
                    int(np.round(first[1] + self.sd * math.cos(phi))),
                )
            head = _ceil_move(tail, theta, self.L)
            pivot = _ceil_move(head, theta + math.pi, self.L + self.m)
            if self._inb(head) and self._inb(pivot):
                return tail, theta, pivot
        return None

    def _extend(self, rng, pivot, theta, mask):
        r = self.L + self.m
        piv = _ceil_move(pivot, theta, self.L + 2 * self.m)
        ys, xs = piv[0] + r * np.sin(self.circle), piv[1] + r * np.cos(self.circle)
        ok = (ys >= 0) & (ys < self.size) & (xs >= 0) & (xs < self.size)
        pts = np.unique(np.stack([ys[ok], xs[ok]], 1).astype(int), axis=0)
        if len(pts) == 0:
            return None
        o = np.arctan2(pts[:, 0] - piv[0], pts[:, 1] - piv[1])
        d = np.abs(o - theta)
        d = np.minimum(np.minimum(d, 2 * math.pi - d) * self.c, math.pi / 2)
        w = np.maximum(np.cos(d), 0) ** 2
        # occupancy dilated by a disc of radius m, read at the candidates
        dil = np.zeros(len(pts))
        for dy, dx in zip(*np.nonzero(self.small), strict=True):
            yy, xx = pts[:, 0] + dy - self.m, pts[:, 1] + dx - self.m
            inb = (yy >= 0) & (yy < self.size) & (xx >= 0) & (xx < self.size)
            dil[inb] = np.maximum(dil[inb], mask[yy[inb], xx[inb]])
        pmf = w * (1 - dil)
        total = pmf.sum()
        if total < 1e-4:
            return None
        cmf = np.cumsum(pmf / total)
        for _ in range(3):
            k = int(np.argmax(cmf - rng.random() > 0))
            head, orient = (int(pts[k, 0]), int(pts[k, 1])), float(o[k])
            flipped = orient + math.pi if orient < 0 else orient - math.pi
            sl, v = self.place(head, flipped)
            if v.size == 0 or np.max(mask[sl] + v) < 1.8:
                return piv, orient, head, (head, flipped)
        return None

    def pair(self, rng) -> tuple[list, list, int]:
        """Two target paths: per path (first tail, last head, orientations); and the restarts."""
        restarts = 0
        while True:
            out = self._try(rng)
            if out is not None:
                return out, restarts
            restarts += 1

    def _try(self, rng):
        mask = np.zeros((self.size, self.size))
        p = self.padding
        mask[:p], mask[-p:], mask[:, :p], mask[:, -p:] = 1, 1, 1, 1
        s1 = self._seed(rng)
        if s1 is None:
            return None
        s2 = self._seed(rng, first=s1[0])
        if s2 is None:
            return None
        paths = []
        for tail, theta, pivot in (s1, s2):
            paths.append(dict(tail=tail, head=None, pivot=pivot, orients=[theta], last=(tail, theta)))
        for _ in range(self.N - 1):
            for q in paths:
                got = self._extend(rng, q["pivot"], q["orients"][-1], mask)
                if got is None:
                    return None
                q["pivot"], orient, q["head"], new = got
                q["orients"].append(orient)
                sl, v = self.place(*q["last"])
                mask[sl] = np.maximum(mask[sl], v)
                q["last"] = new
        return [(q["tail"], q["head"], q["orients"]) for q in paths]


def turning(orients) -> float:
    """Total turning of a path, degrees: the sum of |wrapped change| of its paddles' orientation."""
    d = np.diff(np.asarray(orients))
    return float(np.degrees(np.abs((d + math.pi) % (2 * math.pi) - math.pi).sum()))


def original_stats(length: int, n: int, seed: int = 0) -> dict[str, float]:
    """Positive marker distance (150 px: half the 300 px canvas) and total turning of ``n`` images."""
    g, rng = Original(length), np.random.default_rng(seed)
    dist, turn = [], []
    for _ in range(n):
        paths, _ = g.pair(rng)
        k = int(rng.integers(0, 2))  # the path that carries both markers
        tail, head, _ = paths[k]
        dist.append(math.hypot(head[0] - tail[0], head[1] - tail[1]) / 2)
        turn += [turning(o) for _, _, o in paths]
    return dict(d_mean=np.mean(dist), d_sd=np.std(dist), t_mean=np.mean(turn), t_sd=np.std(turn))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--lengths", default="6,9,14")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", action="store_true", help="also measure locrnn's generator")
    a = ap.parse_args()
    print(f"{'generator':<10} {'length':>6} {'pos. distance (px)':>20} {'turning (deg)':>16} {'s':>6}")
    for length in (int(v) for v in a.lengths.split(",")):
        t0 = time.perf_counter()
        s = original_stats(length, a.n, a.seed)
        row = f"{s['d_mean']:.1f} / {s['d_sd']:.1f}", f"{s['t_mean']:.0f} / {s['t_sd']:.0f}"
        print(f"{'original':<10} {length:>6} {row[0]:>20} {row[1]:>16} {time.perf_counter() - t0:>6.1f}")
        if a.compare:
            from locrnn.data.pathfinder_stats import path_stats

            t0 = time.perf_counter()
            s = path_stats(length, a.n, seed=a.seed)
            row = f"{s['d_mean']:.1f} / {s['d_sd']:.1f}", f"{s['t_mean']:.0f} / {s['t_sd']:.0f}"
            print(f"{'locrnn':<10} {length:>6} {row[0]:>20} {row[1]:>16} {time.perf_counter() - t0:>6.1f}")


if __name__ == "__main__":
    main()
