"""Drawing PathFinder images: anti-aliased paddles and marker discs at the output size.

Each element is drawn as its exact box-filter coverage (line profile with round caps, filled
discs), combined with a pixel-wise max, then byte-scaled (brightest element -> 255) to 8-bit
grayscale, like the official PNGs. Works on a batch of images at once with numpy.
"""

from __future__ import annotations

import math

import numpy as np

from .pathfinder_geometry import distinct_rounds, point_segment_distance
from .pathfinder_params import PathFinderParams


def _draw(img, rows, cx0, cy0, profile, pad) -> None:
    """Max-combine patches (n, side, side) whose top-left pixels are (cx0, cy0) into ``img``."""
    side = profile.shape[1]
    iy = (cy0 + pad)[:, None, None] + np.arange(side)[None, :, None]
    ix = (cx0 + pad)[:, None, None] + np.arange(side)[None, None, :]
    for sel in distinct_rounds(rows):
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
