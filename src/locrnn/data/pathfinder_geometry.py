"""Plane geometry of the PathFinder generator: distances between points and segments, and
safe grouping for scattered writes into per-image arrays.

Segments are arrays (..., 4) of (x0, y0, x1, y1) = (tail, head); everything broadcasts.
"""

from __future__ import annotations

import numpy as np


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


def distinct_rounds(rows: np.ndarray) -> list[np.ndarray]:
    """Split positions 0 .. len(rows)-1 into groups with distinct ``rows`` (a fancy-indexed
    read-modify-write is only safe without repeated indices)."""
    order = np.argsort(rows, kind="stable")
    ranked = rows[order]
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows)) - np.searchsorted(ranked, ranked, side="left")
    if rank.max(initial=0) == 0:
        return [np.arange(len(rows))]
    return [np.flatnonzero(rank == r) for r in range(rank.max() + 1)]
