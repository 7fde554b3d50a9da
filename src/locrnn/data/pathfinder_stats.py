"""Statistics of generated PathFinder images: path shape, and how much marker distance alone tells.

Used by the fidelity test (shape against the original generator's) and by the benchmarks
``pathfinder_original.py`` and ``pathfinder_shortcut.py``.
"""

from __future__ import annotations

import numpy as np

from .pathfinder import PathFinderSample, generate_pathfinder, published_params


def marker_distances(samples: list[PathFinderSample]) -> np.ndarray:
    """Distance between the two markers of each image, px."""
    return np.array([float(np.hypot(*(s.markers[0] - s.markers[1]))) for s in samples])


def turning(path: np.ndarray) -> float:
    """Total turning of a path (paddles, 2, 2), degrees: the sum of |change of direction| between
    consecutive paddles."""
    v = path[:, 1] - path[:, 0]
    d = np.diff(np.arctan2(v[:, 1], v[:, 0]))
    return float(np.degrees(np.abs((d + np.pi) % (2 * np.pi) - np.pi).sum()))


def path_stats(length: int, n: int, *, size: int = 150, seed: int = 0, **overrides) -> dict[str, float]:
    """Mean and sd of the end-to-end distance (px; a positive's marker distance) and of the total
    turning (degrees) of both target paths of ``n`` images of the paper set at ``size`` px."""
    p = published_params(length, size, family="paper", **overrides)
    _, _, geo = generate_pathfinder(n, p, seed=seed, split="test", geometry=True, workers=1)
    paths = [t for s in geo for t in s.targets]
    d = np.array([float(np.hypot(*(t[-1, 1] - t[0, 0]))) for t in paths])
    turn = np.array([turning(t) for t in paths])
    return dict(d_mean=d.mean(), d_sd=d.std(), t_mean=turn.mean(), t_sd=turn.std())


def interval_rule(d: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The best distance-only rule "positive iff a <= distance <= b" on (d, y): returns (a, b),
    the interval maximising (positives inside) - (negatives inside)."""
    d, y = np.asarray(d, float), np.asarray(y)
    order = np.argsort(d, kind="stable")
    ds, c = d[order], np.concatenate([[0], np.cumsum(np.where(y[order] == 1, 1, -1))])
    # the gain of [ds[i], ds[j]] is c[j + 1] - c[i]: for each i the best j >= i is a suffix maximum
    gain = np.maximum.accumulate(c[1:][::-1])[::-1] - c[:-1]
    i = int(np.argmax(gain))
    j = i + int(np.argmax(c[i + 1 :]))
    return float(ds[i]), float(ds[j])


def interval_rule_accuracy(d: np.ndarray, y: np.ndarray, *, held_out: bool = True) -> float:
    """Accuracy of the best distance-only interval rule.

    ``held_out=False``: fitted and scored on the same images (the issue's measure; even when
    distance tells nothing, this scores above chance by about 1 / sqrt(n), the rule having
    picked the luckiest interval). ``held_out=True``: two-fold: the rule fitted on the even
    images scores the odd ones and vice versa, so chance is 0.5 on average.
    """
    d, y = np.asarray(d, float), np.asarray(y)
    if not held_out:
        a, b = interval_rule(d, y)
        return float((((d >= a) & (d <= b)) == (y == 1)).mean())
    right = 0
    for fit, score in ((slice(0, None, 2), slice(1, None, 2)), (slice(1, None, 2), slice(0, None, 2))):
        a, b = interval_rule(d[fit], y[fit])
        right += int((((d[score] >= a) & (d[score] <= b)) == (y[score] == 1)).sum())
    return right / len(d)
