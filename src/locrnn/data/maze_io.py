"""Read and write maze data in the public layouts.

* v2 (easy-to-hard-data 1.0): ``<root>/maze_data_{train,test}_{S}/inputs.npy`` (N, 3, H, W)
  and ``solutions.npy`` (N, H, W), values in {0, 1}, H = W = 2 S + 6.
* v1 (older DeepThinking / LocRNN code): ``<root>/{train,test}_{small,medium,large}/`` with
  ``inputs.npy`` (N, H, W, 3) NHWC and ``solutions.npy`` (N, H, W, 3), target = channel 0.

Readers validate shape, dtype and value range and name the file at fault.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import UserError, atomic_dir, load_npy, save_npy
from .mazes import check_size

V1_NAMES = {9: "small", 11: "medium", 13: "large"}


def v2_folder(root: str | os.PathLike, split: str, size: int) -> Path:
    return Path(root) / f"maze_data_{split}_{check_size(size)}"


def write_mazes(
    root: str | os.PathLike,
    split: str,
    size: int,
    inputs: np.ndarray,
    solutions: np.ndarray,
    *,
    overwrite: bool = False,
    dtype: str = "uint8",
) -> Path:
    """Write a v2 folder; the folder appears under its final name only once complete."""
    folder = v2_folder(root, split, size)
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        save_npy(tmp / "inputs.npy", inputs.astype(dtype, copy=False))
        save_npy(tmp / "solutions.npy", solutions.astype(dtype, copy=False))
    return folder


def _check_values(arr: np.ndarray, path: Path, *, binary: bool = False) -> None:
    if arr.dtype.kind not in "biuf":
        raise UserError(f"{path}: expected a bool, integer or float array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        for start in range(0, len(arr), 4096):  # in chunks: the array may be memory-mapped
            bad = np.argwhere(~np.isfinite(arr[start : start + 4096]))
            if len(bad):
                where = (start + int(bad[0][0]), *(int(i) for i in bad[0][1:]))
                raise UserError(f"{path}: non-finite value (NaN or inf) at index {where}")
    lo, hi = arr.min(initial=0), arr.max(initial=0)
    if lo < 0 or hi > 1:
        raise UserError(f"{path}: values must lie in [0, 1], found range [{lo}, {hi}]")
    if binary and arr.dtype.kind == "f" and not np.isin(arr, (0, 1)).all():
        raise UserError(f"{path}: expected a 0/1 path mask, found values strictly between 0 and 1")


def read_maze_folder(folder: str | os.PathLike, *, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read a v2 or v1 maze folder; return NCHW inputs and (N, H, W) solutions as stored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"missing maze data folder {folder}")
    xp, yp = folder / "inputs.npy", folder / "solutions.npy"
    x, y = load_npy(xp, mmap=mmap), load_npy(yp, mmap=mmap)
    if x.ndim == 4 and x.shape[-1] == 3 and x.shape[1] != 3:  # v1: NHWC, 3-channel targets
        x = x.transpose(0, 3, 1, 2)
        if y.ndim == 4:
            y = y[..., 0]
    if x.ndim != 4 or x.shape[1] != 3:
        raise UserError(f"{xp}: expected shape (N, 3, H, W) or (N, H, W, 3), got {x.shape}")
    if y.ndim != 3 or y.shape != (x.shape[0], x.shape[2], x.shape[3]):
        raise UserError(
            f"{yp}: expected shape {(x.shape[0], x.shape[2], x.shape[3])} to match {xp.name}, got {y.shape}"
        )
    _check_values(x, xp)
    _check_values(y, yp, binary=True)
    return x, y


def find_maze_folder(root: str | os.PathLike, split: str, size: int) -> Path:
    """Locate the v2 folder for (split, size) under ``root``, else the v1 one."""
    size = check_size(size)
    root = Path(root)
    candidates = [v2_folder(root, split, size)]
    if size in V1_NAMES:
        for base in (root, root / "maze_data"):
            candidates.append(base / f"{split}_{V1_NAMES[size]}")
    for c in candidates:
        if c.is_dir():
            return c
    raise UserError(
        f"no maze data for split {split!r}, size {size} under {root} "
        f"(looked for {', '.join(str(c) for c in candidates)})"
    )


def load_mazes(root: str | os.PathLike, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The mazes of ``split`` and ``size`` under ``root``; a v2 folder's images must be
    2 S + 6 px wide, as its name says (the folder name alone is not trusted)."""
    folder = find_maze_folder(root, split, size)
    x, y = read_maze_folder(folder)
    side = 2 * check_size(size) + 6
    if folder == v2_folder(root, split, size) and x.shape[-2:] != (side, side):
        h, w = x.shape[-2:]
        guess = f" (size {(h - 6) // 2} mazes are {h}x{w} px)" if h == w and h % 2 == 0 and h > 6 else ""
        raise UserError(
            f"{folder / 'inputs.npy'}: images are {h}x{w} px, but the folder's name says size {size}, "
            f"whose mazes are {side}x{side} px{guess}"
        )
    return x, y
