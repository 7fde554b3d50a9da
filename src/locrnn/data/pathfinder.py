"""PathFinder generator (Linsley et al. 2018), vectorised over many images, deterministic by index.

An image holds two *target* paths and several short *distractor* paths, each a chain of
*paddles* (short dashes of length L and thickness t). Two disk markers sit on path ends: on the
two ends of one target path (label 1, "connected") or on ends of the two different target paths
(label 0). Geometry follows the original generator (see ``docs``/reference ``pathfinder.md``):

* A path starts with a seed paddle (tail at a random free point, uniform orientation). Each next
  paddle pivots about the point P = head + m u(theta) (m = margin, u = unit vector): its tail is
  P + m u(theta'), its head P + (L + m) u(theta'). So consecutive paddles are separated by a gap
  of about 2 m and the path has arc length L + (N - 1)(L + 2 m).
* Continuity rule: the turn d = theta' - theta is drawn with weight cos^2(c d) for |c d| < 90
  degrees (0 beyond), over candidate heads spaced about one canvas unit apart on the circle of
  radius L + m (a uniform jitter inside the chosen bin makes the turn continuous). Candidates
  off the canvas or on blocked cells get weight 0; a total weight below 1e-4 is a dead end.
* Collision rule: every committed paddle blocks the cells of an occupancy mask within
  D = 2 m + t of its centre line (the paddle dilated by the margin, as seen by another dilated
  paddle). A new paddle is accepted only if its centre line crosses no blocked cell and no
  not-yet-committed paddle of the other path within D; the paddle just before it on its own path
  is exempt (it is committed only after its successor is placed, as in the original). Up to 3
  draws per paddle; then the path fails.
* The two target paths grow together (path 0 then path 1, paddle by paddle) from seeds exactly
  ``seed_distance`` apart, the first inside the central region; any failure restarts both.
  Distractors (``n_distractors`` paths of ``distractor_length`` paddles) are seeded anywhere
  free; a distractor that fails is retried up to 5 times, then skipped.
* Rendering: paddles and markers are drawn anti-aliased (exact box-filter coverage of the line
  profile, round caps) directly at the output size with numpy, combined with a pixel-wise max,
  then byte-scaled (brightest element -> 255) to 8-bit grayscale, like the official PNGs.

Differences from the original, all deliberate: continuous coordinates and turn angles instead of
integer pixels; candidate heads inside the blocked zone are never sampled (the original wasted a
retry on them); paths never come closer than D even to the other target path's newest paddle (so
a label can never be ambiguous); the "stop when < 1 % of pixels are free" rule is replaced by
the per-distractor attempt limit; labels are balanced exactly (one positive and one negative in
every pair of indices 2k, 2k+1) instead of a coin flip per image.

Speed: a chunk of images advances in lock-step, each image running its own state machine (seed,
extend, restart, next distractor, done) on numpy arrays; every image draws from its own random
stream (``SeedSequence([seed, split, index])``), so image ``i`` is the same whatever the chunk
size, the worker count or ``n``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

SPLITS = {"train": 0, "test": 1, "val": 2}
CHUNK = 256  # images advanced in lock-step by one worker call
_POOL = 512  # uniforms drawn per image at a time
_TRIES = 3  # draws per paddle (original: max_paddle_retrial + 1)
_SEED_TRIES = 4  # random points tried per distractor seed attempt
_DISTRACTOR_ATTEMPTS = 5
_LRA_SIZES = (32, 64, 128, 256)


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
        return check_params(dataclasses.replace(self, **changes))

    def describe(self) -> str:
        m = "/".join(f"{v:g}" for v in self.margin)
        return (
            f"length {self.length}, {self.size}x{self.size} px (canvas {self.canvas}), L {self.paddle_length:g}, "
            f"margin {m}, continuity {self.continuity:g}, {self.n_distractors} distractors of {self.distractor_length}"
        )


def check_params(p: PathFinderParams) -> PathFinderParams:
    """Return ``p`` if its values make sense, else raise a one-line ``ValueError``."""
    margin = tuple(float(m) for m in (p.margin if isinstance(p.margin, (tuple, list)) else (p.margin,)))
    p = dataclasses.replace(p, margin=margin)
    ints = {"length": 1, "size": 4, "canvas": 4, "distractor_length": 1, "n_distractors": 0, "max_restarts": 1}
    for name, lo in ints.items():
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"pathfinder {name.replace('_', ' ')} must be an integer >= {lo}, got {v!r}")
    for name in ("paddle_length", "thickness", "continuity", "marker_radius"):
        if not getattr(p, name) > 0:
            raise ValueError(f"pathfinder {name.replace('_', ' ')} must be > 0, got {getattr(p, name)!r}")
    for name in ("seed_distance", "padding", "target_contrast", "distractor_contrast"):
        if not getattr(p, name) >= 0:
            raise ValueError(f"pathfinder {name.replace('_', ' ')} must be >= 0, got {getattr(p, name)!r}")
    if not margin or min(margin) <= 0:
        raise ValueError(f"pathfinder margin must be > 0, got {p.margin!r}")
    if max(p.target_contrast, p.distractor_contrast, 1.0) <= 0:
        raise ValueError("pathfinder contrasts are all zero")
    return p


def pathfinder_params(length: int = 14, size: int | None = None, *, family: str = "auto", **overrides):
    """Parameters of a published PathFinder set for any path ``length`` and output ``size``.

    ``family="paper"``: the hGRU / LocRNN sets (canvas 300 drawn at ``size``, default 150 px;
    margin 3, L 5, t 1.5, markers r 3, seeds 27 apart, continuity 1.8 below length 18 and 0.8
    from 18 on, as the LocRNN authors' PF-18 set; N // 3-paddle distractors, 30 // (N // 3) of
    them). ``family="lra"``: the Long Range Arena sets, drawn natively at ``size`` in 32, 64,
    128 or 256. ``"auto"`` picks ``lra`` for those four sizes, ``paper`` otherwise. Any field of
    :class:`PathFinderParams` can be overridden (``continuity=``, ``n_distractors=``, ...).
    """
    length = check_length(length)
    if family == "auto":
        family = "lra" if size in _LRA_SIZES else "paper"
    dlen = max(1, length // 3)
    if family == "paper":
        base = dict(canvas=300, size=size or 150, continuity=1.8 if length < 18 else 0.8, n_distractors=30 // dlen)
    elif family == "lra":
        if size not in _LRA_SIZES:
            raise ValueError(f"LRA PathFinder sets exist at sizes {_LRA_SIZES}, got {size!r}")
        lra = {
            32: dict(margin=(1.0,), paddle_length=2.0, thickness=0.5, marker_radius=1.5, seed_distance=7.0,
                     padding=1.0, continuity=1.0, budget=20, target_contrast=1.5, distractor_contrast=2.0),
            64: dict(margin=(1.0,), paddle_length=5.0, thickness=1.0, marker_radius=2.5, seed_distance=12.0,
                     padding=1.0, continuity=1.8, budget=22, target_contrast=0.8, distractor_contrast=0.8),
            128: dict(margin=(2.0, 3.0), paddle_length=5.0, thickness=1.5, marker_radius=3.0, seed_distance=20.0,
                      padding=1.0, continuity=1.8, budget=35, target_contrast=0.9, distractor_contrast=0.9),
            256: dict(margin=(3.0,), paddle_length=5.0, thickness=2.0, marker_radius=5.0, seed_distance=27.0,
                      padding=22.0, continuity=1.8, budget=30, target_contrast=1.0, distractor_contrast=1.0),
        }[size]  # fmt: skip
        base = dict(lra, canvas=size, size=size, n_distractors=lra.pop("budget") // dlen)
    else:
        raise ValueError(f"unknown PathFinder family {family!r}; choose auto, paper or lra")
    base.update(length=length, distractor_length=dlen)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(PathFinderParams)}
    if unknown:
        raise ValueError(f"unknown PathFinder parameter(s): {sorted(unknown)}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return check_params(PathFinderParams(**base))


PRESETS = {
    "pf9": dict(length=9, family="paper"),
    "pf14": dict(length=14, family="paper"),
    "pf18": dict(length=18, family="paper"),
    "lra32": dict(length=14, size=32, family="lra"),
    "lra64": dict(length=14, size=64, family="lra"),
    "lra128": dict(length=14, size=128, family="lra"),
    "lra256": dict(length=14, size=256, family="lra"),
}


def preset_params(name: str, **overrides) -> PathFinderParams:
    """A named set: ``pf9``, ``pf14``, ``pf18`` (paper, 150 px) or ``lra32`` .. ``lra256`` (length 14)."""
    if name not in PRESETS:
        raise ValueError(f"unknown PathFinder preset {name!r}; choose one of: {', '.join(PRESETS)}")
    args = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    return pathfinder_params(**args)


def check_length(length) -> int:
    try:
        value = int(length)
    except (TypeError, ValueError):
        raise ValueError(f"path length must be an integer >= 2, got {length!r}") from None
    if value != length or value < 2:
        raise ValueError(f"path length must be an integer >= 2, got {length!r}")
    return value


@dataclass
class PathFinderSample:
    """The recorded geometry of one image, in output pixel coordinates (x right, y down).

    Each path is an array (paddles, 2, 2) of (tail, head) points; pixel (row i, column j)
    covers [j, j + 1) x [i, i + 1). ``markers[k]`` sits on the origin (first tail) of target path
    ``marker_paths[0]`` for k = 0 and on the end (last head) of ``marker_paths[1]`` for k = 1.
    """

    label: int
    targets: list[np.ndarray]
    distractors: list[np.ndarray]
    markers: np.ndarray
    marker_paths: tuple[int, int]
    margin: float  # canvas units
    spacing: float  # D = 2 m + t, px
    restarts: int


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


def balanced_labels(seed: int, split: int, indices: np.ndarray) -> np.ndarray:
    """1 for exactly one image of each pair (2k, 2k + 1), chosen by a hash of (seed, split, k)."""
    idx = np.asarray(indices, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = idx // np.uint64(2) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed * 4 + split + 1)
        for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            z = (z ^ (z >> np.uint64(shift))) * np.uint64(mult)
        z = z ^ (z >> np.uint64(31))
    return ((z & np.uint64(1)) ^ (idx & np.uint64(1))).astype(np.int64)


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


class _Machine:
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
            raise ValueError(f"pathfinder padding {p.padding:g} leaves no room on a {p.canvas}-unit canvas")
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

    def run(self) -> _Machine:
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
            raise ValueError(
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


def _samples(p: PathFinderParams, mc: _Machine, labels, markers) -> list[PathFinderSample]:
    s, out = p.scale, []
    for i in range(len(labels)):
        seg = lambda path: mc.out_seg[i, path, : mc.out_plen[i, path]].reshape(-1, 2, 2) * s  # noqa: B023
        o = int(mc.out_origin[i])
        out.append(
            PathFinderSample(
                label=int(labels[i]),
                targets=[seg(0), seg(1)],
                distractors=[seg(d) for d in range(2, 2 + p.n_distractors) if mc.out_plen[i, d] == p.distractor_length],
                markers=markers[i],
                marker_paths=(o, o if labels[i] else 1 - o),
                margin=float(mc.out_m[i]),
                spacing=p.spacing(mc.out_m[i]) * s,
                restarts=int(mc.out_restarts[i]),
            )
        )
    return out


class Chunk(NamedTuple):
    """Images ``start .. start + count - 1`` of a split."""

    images: np.ndarray  # (count, size, size) uint8
    labels: np.ndarray  # (count,) int64, 1 = connected
    margins: np.ndarray  # (count,) the margin drawn for each image
    samples: list[PathFinderSample] | None  # geometry, when asked for


def generate_chunk(p: PathFinderParams, seed: int, split: str, start: int, count: int, geometry: bool = False) -> Chunk:
    """Generate images ``start .. start + count - 1`` of a split in this process."""
    idx = np.arange(start, start + count)
    labels = balanced_labels(seed, SPLITS[split], idx)
    if count == 0:
        return Chunk(np.zeros((0, p.size, p.size), np.uint8), labels, np.zeros(0), [] if geometry else None)
    mc = _Machine(p, seed, SPLITS[split], start, count).run()
    images, markers = render(p, mc.out_seg, mc.out_plen, labels, mc.out_origin)
    return Chunk(images, labels, mc.out_m, _samples(p, mc, labels, markers) if geometry else None)


def _job(args):
    return generate_chunk(*args)


def chunk_jobs(p, seed, split, start, n, workers, chunk=4 * CHUNK) -> list[tuple]:
    """Split [start, start + n) into pieces of at most ``chunk`` images, at least one per worker."""
    per = max(1, min(chunk, -(-n // max(1, workers))))
    return [(p, seed, split, start + a, min(per, n - a)) for a in range(0, n, per)]


def generate_pathfinder(
    n: int,
    params: PathFinderParams | None = None,
    *,
    seed: int = 0,
    split: str = "train",
    start: int = 0,
    workers: int | None = None,
    geometry: bool = False,
    progress: bool = False,
):
    """Generate images ``start .. start + n - 1`` of a split.

    Returns ``images`` (n, size, size) uint8, ``labels`` (n,) int64 with 1 = the markers lie on
    the same path, and, with ``geometry=True``, a list of :class:`PathFinderSample`. Image ``i``
    depends only on (params, seed, split, i): not on n, start, the chunking or the worker count.
    """
    p = check_params(params or pathfinder_params())
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
    if n < 0 or start < 0:
        raise ValueError(f"number of images and start must be >= 0, got n={n}, start={start}")
    workers = max(1, workers or os.cpu_count() or 1)
    images = np.empty((n, p.size, p.size), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    samples: list[PathFinderSample] = []
    jobs = [(*j, geometry) for j in chunk_jobs(p, seed, split, start, n, workers)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"pathfinder {p.length} ({p.size} px, {split})", unit="img")
    pool = ProcessPoolExecutor(min(workers, len(jobs))) if workers > 1 and len(jobs) > 1 else None
    try:
        results = pool.map(_job, jobs) if pool else map(_job, jobs)
        at = 0
        for x, y, _, geo in results:
            images[at : at + len(x)], labels[at : at + len(y)] = x, y
            samples += geo or []
            at += len(x)
            if bar is not None:
                bar.update(len(x))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    return (images, labels, samples) if geometry else (images, labels)
