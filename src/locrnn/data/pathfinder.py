"""PathFinder generator (Linsley et al. 2018), vectorised over many images, deterministic by index.

An image holds two *target* paths and several short *distractor* paths, each a chain of
*paddles* (short dashes of length L and thickness t). Two disk markers sit on path ends: on the
two ends of one target path (label 1, "connected") or on ends of the two different target paths
(label 0). The geometry follows the original generator (drewlinsley/pathfinder, ab9c130):

* A path starts with a seed paddle (tail at a random free point, uniform orientation). Each next
  paddle pivots about the point P = head + m u(theta) (m = margin, u = unit vector) rounded up to
  whole canvas units, as the original does: its tail is P + m u(theta'), its head
  P + (L + m) u(theta'). So consecutive paddles are separated by a gap of about 2 m and the path
  has arc length about L + (N - 1)(L + 2 m); the rounding makes every path drift by about
  (+1/2, +1/2) canvas unit per paddle, which gives the end-to-end distance the original's spread.
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
* ``balance_distance``: a negative redraws its target pair until the distance between its markers
  matches a draw from the positives' (one path's end-to-end distance), so distance alone tells
  nothing about the label (the default leaves the original's shortcut).
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
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..io import UserError
from ..pool import pool_map, worker_count
from .pathfinder_machine import CHUNK, Machine
from .pathfinder_params import PathFinderParams
from .pathfinder_render import render

SPLITS = {"train": 0, "test": 1, "val": 2}
_LRA_SIZES = (32, 64, 128, 256)


def published_params(length: int = 14, size: int | None = None, *, family: str = "auto", **overrides):
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
            raise UserError(f"LRA PathFinder sets exist at sizes {_LRA_SIZES}, got {size!r}")
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
        raise UserError(f"unknown PathFinder family {family!r}; choose auto, paper or lra")
    base.update(length=length, distractor_length=dlen)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(PathFinderParams)}
    if unknown:
        raise UserError(f"unknown PathFinder parameter(s): {sorted(unknown)}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return PathFinderParams(**base)


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
        raise UserError(f"unknown PathFinder preset {name!r}; choose one of: {', '.join(PRESETS)}")
    args = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    return published_params(**args)


def check_length(length) -> int:
    try:
        value = int(length)
    except (TypeError, ValueError):
        raise UserError(f"path length must be an integer >= 2, got {length!r}") from None
    if value != length or value < 2:
        raise UserError(f"path length must be an integer >= 2, got {length!r}")
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


def balanced_labels(seed: int, split: int, indices: np.ndarray) -> np.ndarray:
    """1 for exactly one image of each pair (2k, 2k + 1), chosen by a hash of (seed, split, k)."""
    idx = np.asarray(indices, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = idx // np.uint64(2) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(seed * 4 + split + 1)
        for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            z = (z ^ (z >> np.uint64(shift))) * np.uint64(mult)
        z = z ^ (z >> np.uint64(31))
    return ((z & np.uint64(1)) ^ (idx & np.uint64(1))).astype(np.int64)


def _samples(p: PathFinderParams, mc: Machine, labels, markers) -> list[PathFinderSample]:
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
    mc = Machine(p, seed, SPLITS[split], start, count, labels=labels).run()
    images, markers = render(p, mc.out_seg, mc.out_plen, labels, mc.out_origin)
    return Chunk(images, labels, mc.out_m, _samples(p, mc, labels, markers) if geometry else None)


def _job(args) -> Chunk:
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
    p = params or published_params()
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
    if n < 0 or start < 0:
        raise UserError(f"number of images and start must be >= 0, got n={n}, start={start}")
    workers = worker_count(workers)
    images = np.empty((n, p.size, p.size), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    samples: list[PathFinderSample] = []
    jobs = [(*j, geometry) for j in chunk_jobs(p, seed, split, start, n, workers)]
    desc = f"pathfinder {p.length} ({p.size} px, {split})"
    with pool_map(_job, jobs, workers=workers, progress=progress, desc=desc, total=n, unit="img") as results:
        at = 0
        for x, y, _, geo in results:
            images[at : at + len(x)], labels[at : at + len(y)] = x, y
            samples += geo or []
            at += len(x)
    return (images, labels, samples) if geometry else (images, labels)
