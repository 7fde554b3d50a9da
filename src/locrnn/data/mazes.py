"""Maze generator in the public easy-to-hard v2 format (vectorised, deterministic by seed).

A maze "of size S" (S odd, S >= 3) has n = (S + 1) / 2 cells per side. Recipe (easy-to-hard-data
``make_mazes.py``): draw two distinct cells as start and end, carve a perfect maze by randomised
depth-first search rooted at the start cell, rasterise onto a (2n+1)^2 black lattice (cells and
opened passages white, start green, end red), mark the unique start->end path, upsample x2 and
add a 1-pixel black frame: images are 3 x (2S+6) x (2S+6), RGB in {0, 1}.

Here the DFS runs on a whole chunk of mazes at once with numpy: every maze needs exactly
2 n^2 - 1 push/pop moves, so a chunk advances in lock-step. Mazes are made in chunks whose size
depends only on S, one random stream per chunk, so the arrays never depend on the worker count
and the first k of n mazes are the same as the first k of any larger set.
"""

from __future__ import annotations

import numpy as np

from ..io import UserError
from ..pool import pool_map, worker_count

CHUNK = 1024  # mazes per random stream for small sizes (fewer for large ones, see chunk_size)
SPLITS = {"train": 0, "test": 1, "val": 2}
NAMES = {"small": 9, "medium": 11, "large": 13}


def check_size(size: int) -> int:
    """Return ``size`` if it is a valid maze size (odd, >= 3), else raise ``ValueError``."""
    if isinstance(size, str) and size in NAMES:
        return NAMES[size]
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise UserError(f"maze size must be an odd integer >= 3, got {size!r}") from None
    if size < 3 or size % 2 == 0:
        raise UserError(f"maze size must be an odd integer >= 3, got {size}")
    return size


def image_side(size: int) -> int:
    """Pixel side of a maze of size ``size``: 2 S + 6 (9 -> 24, 11 -> 28, 13 -> 32)."""
    return 2 * check_size(size) + 6


def chunk_size(size: int) -> int:
    """Mazes per random stream: a function of the size only, so any n gives a prefix of a larger n."""
    cells = ((size + 1) // 2) ** 2
    return max(8, min(CHUNK, 2**17 // cells))


def _carve(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Randomised DFS for ``count`` mazes of n x n cells; returns parent, start, end."""
    cells = n * n
    rows = np.arange(count)
    pair = np.argsort(rng.random((count, cells)), axis=1)[:, :2]  # two distinct cells, uniform
    start, end = pair[:, 0], pair[:, 1]
    visited = np.zeros((count, cells), dtype=bool)
    parent = np.empty((count, cells), dtype=np.int64)
    stack = np.empty((count, cells), dtype=np.int64)
    visited[rows, start] = True
    parent[rows, start] = start
    stack[:, 0] = start
    depth = np.ones(count, dtype=np.int64)
    # neighbour table: (cells, 4) with -1 for off-grid (up, down, left, right)
    idx = np.arange(cells)
    r, c = idx // n, idx % n
    nbr = np.stack(
        [
            np.where(r > 0, idx - n, -1),
            np.where(r < n - 1, idx + n, -1),
            np.where(c > 0, idx - 1, -1),
            np.where(c < n - 1, idx + 1, -1),
        ],
        axis=1,
    )
    for _ in range(2 * cells - 1):
        cur = stack[rows, depth - 1]
        cand = nbr[cur]  # (count, 4)
        free = (cand >= 0) & ~visited[rows[:, None], np.maximum(cand, 0)]
        score = np.where(free, rng.random((count, 4)), -1.0)
        pick = score.argmax(axis=1)
        push = free.any(axis=1)
        nxt = cand[rows, pick]
        pr = rows[push]
        visited[pr, nxt[push]] = True
        parent[pr, nxt[push]] = cur[push]
        stack[pr, depth[push]] = nxt[push]
        depth += np.where(push, 1, -1)
    return parent, start, end


def _rasterise(n: int, parent: np.ndarray, start: np.ndarray, end: np.ndarray):
    count, cells = parent.shape
    side = 2 * n + 1
    rows = np.arange(count)
    cell = np.arange(cells)
    cy, cx = 2 * (cell // n) + 1, 2 * (cell % n) + 1  # lattice coordinates of each cell
    py, px = cy[parent], cx[parent]  # (count, cells)
    open_ = np.zeros((count, side, side), dtype=bool)
    open_[:, cy, cx] = True
    open_[rows[:, None], (cy + py) // 2, (cx + px) // 2] = True  # passage to parent
    # the unique path: walk from end to start along parent pointers
    path = np.zeros((count, side, side), dtype=bool)
    cur = end.copy()
    for _ in range(cells):
        path[rows, cy[cur], cx[cur]] = True
        nxt = parent[rows, cur]
        path[rows, (cy[cur] + cy[nxt]) // 2, (cx[cur] + cx[nxt]) // 2] = True
        if np.array_equal(nxt, cur):
            break
        cur = nxt
    img = np.repeat(open_[:, None], 3, axis=1).astype(np.uint8)
    for ch, cells_ in ((0, start), (2, start), (1, end), (2, end)):  # start green, end red
        img[rows, ch, cy[cells_], cx[cells_]] = 0
    up = lambda a: np.pad(a.repeat(2, -1).repeat(2, -2), [(0, 0)] * (a.ndim - 2) + [(1, 1), (1, 1)])
    return up(img), up(path.astype(np.uint8))


def _chunk(args: tuple[int, int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    size, seed, split, index, count = args
    rng = np.random.default_rng(np.random.SeedSequence([seed, split, size, index]))
    n = (size + 1) // 2
    x, y = _rasterise(n, *_carve(n, chunk_size(size), rng))
    return x[:count], y[:count]


def generate_mazes(
    n: int,
    size: int,
    *,
    seed: int = 0,
    split: str = "train",
    workers: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` mazes of size ``size``.

    Returns ``inputs`` (n, 3, 2S+6, 2S+6) and ``solutions`` (n, 2S+6, 2S+6), both uint8 in
    {0, 1}. The result depends only on (n, size, seed, split): train, test and val draw from
    disjoint random streams, and the worker count changes nothing.
    """
    size = check_size(size)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
    if n < 0:
        raise UserError(f"number of mazes must be >= 0, got {n}")
    side = image_side(size)
    inputs = np.empty((n, 3, side, side), dtype=np.uint8)
    solutions = np.empty((n, side, side), dtype=np.uint8)
    per = chunk_size(size)
    jobs = [(size, seed, SPLITS[split], i, min(per, n - i * per)) for i in range(-(-n // per))]
    desc = f"mazes {size}x{size} ({split})"
    with pool_map(
        _chunk, jobs, workers=worker_count(workers), progress=progress, desc=desc, total=n, unit="maze"
    ) as results:
        at = 0
        for x, y in results:
            inputs[at : at + len(x)], solutions[at : at + len(y)] = x, y
            at += len(x)
    return inputs, solutions
