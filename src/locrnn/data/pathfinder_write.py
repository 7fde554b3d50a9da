"""Write PathFinder data in the layouts users have (read by :mod:`.pathfinder_read`).

Layouts (``pathfinder.md`` section 2), labels always normalised to 1 = connected:

* ``lra`` (the generator's and the Long Range Arena release's): ``<root>/<name>/imgs/<batch>/
  sample_<i>.png`` and ``<root>/<name>/metadata/<batch>.npy``, one row per image with the
  sub-folder in column 0, the file name in column 1 and the label in column 3. The generator
  writes binary ``.npy`` string arrays; the LRA release has plain text under the same name.
* ``2018`` (the hGRU release): ``<root>/<name>/`` (positives) and ``<root>/<name>_neg/``
  (negatives), each with ``imgs/`` (+ ``metadata/``); the label is the folder.
* ``imagefolder`` (the LocRNN authors' torchvision layout): ``<root>/<split>/<name>/*.png`` and
  ``<root>/<split>/<name>_neg/*.png`` (torchvision's class 0 is the positive folder; here 1).

``<name>`` is ``curv_contour_length_<N>`` (``curv_baseline`` for N = 6). Folders without
splits are cut in contiguous slices, train 80 % / val 10 % / test 10 % (as LRA does); the 2018
layout is first interleaved positive, negative, positive, ... so every slice is balanced.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..io import UserError, atomic_dir, atomic_path, save_json, save_npy
from ..pool import pool_map, worker_count
from .pathfinder import chunk_jobs, generate_chunk, generate_pathfinder
from .pathfinder_params import PathFinderParams

LAYOUTS = ("lra", "2018", "imagefolder")
SLICES = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}
BATCH = 10000  # images per imgs/<batch>/ folder


def dataset_name(length: int) -> str:
    """Folder name of a path length in the official layouts."""
    return "curv_baseline" if length == 6 else f"curv_contour_length_{length}"


# --------------------------------------------------------------------------- writing


def _relpath(layout: str, index: int, batch: int) -> str:
    b, i = divmod(index, batch)
    return f"{b}_sample_{i}.png" if layout == "imagefolder" else f"imgs/{b}/sample_{i}.png"


def _write_pngs(args) -> tuple[np.ndarray, np.ndarray]:
    """Worker: generate a chunk and write its PNGs under ``dirs[label]``; return labels, margins."""
    from PIL import Image

    p, seed, split, start, count, layout, dirs, batch = args
    chunk = generate_chunk(p, seed, split, start, count)
    for k, (img, label) in enumerate(zip(chunk.images, chunk.labels)):
        path = Path(dirs[int(label)]) / _relpath(layout, start + k, batch)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(path, format="PNG")
    return chunk.labels, chunk.margins


def _metadata_row(p: PathFinderParams, index: int, label: int, margin: float, batch: int) -> list[str]:
    b, i = divmod(index, batch)
    return [
        f"imgs/{b}",
        f"sample_{i}.png",
        str(i),
        str(label),
        f"{p.continuity:g}",
        str(p.length),
        str(p.distractor_length),
        f"{p.paddle_length:g}",
        f"{p.thickness:g}",
        f"{margin:g}",
        "1",
    ]


def write_pathfinder(
    root: str | os.PathLike,
    params: PathFinderParams,
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    layout: str = "lra",
    workers: int | None = None,
    overwrite: bool = False,
    preview: bool = False,
    batch: int = BATCH,
    progress: bool = False,
) -> list[Path]:
    """Generate ``n`` images and write them in ``layout``; return the folders written.

    Every folder is written under a temporary name and renamed once complete, so a killed run
    leaves no half-written dataset. Every folder also gets ``params.json`` (how the images
    were made). With ``preview``, ``<root>/<name>_preview.png`` shows 8 positives over 8 negatives.
    """
    p = params
    if layout not in LAYOUTS:
        raise UserError(f"unknown PathFinder layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if n < 1:
        raise UserError(f"number of images must be >= 1, got {n}")
    if batch < 1:
        raise UserError(f"images per batch folder must be >= 1, got {batch}")
    root, name = Path(root), dataset_name(p.length)
    if layout == "lra":
        finals = {1: root / name, 0: root / name}
    elif layout == "2018":
        finals = {1: root / name, 0: root / f"{name}_neg"}
    else:
        finals = {1: root / split / name, 0: root / split / f"{name}_neg"}
    folders = sorted(set(finals.values()))
    workers = worker_count(workers)
    with ExitStack() as stack:
        tmp = {f: stack.enter_context(atomic_dir(f, overwrite=overwrite)) for f in folders}
        dirs = {label: str(tmp[f]) for label, f in finals.items()}
        jobs = []
        for b0 in range(0, n, batch):  # a job never straddles two batch folders
            jobs += [(*j, layout, dirs, batch) for j in chunk_jobs(p, seed, split, b0, min(batch, n - b0), workers)]
        labels, margins = _run_jobs(jobs, workers, progress, f"write pathfinder {p.length} ({p.size} px)", n)
        if layout != "imagefolder":
            _write_metadata(p, labels, margins, finals, tmp, layout, batch)
        info = {"params": asdict(p), "seed": seed, "split": split, "n": n, "layout": layout, "batch": batch}
        for folder in folders:  # how the images were made (balance_distance included), in every folder
            save_json(tmp[folder] / "params.json", info)
    if preview:
        write_preview(root / f"{name}_preview.png", p, seed=seed, split=split)
    return folders


def _run_jobs(jobs, workers, progress, desc, n) -> tuple[np.ndarray, np.ndarray]:
    """Write the PNGs of every job; return the labels and margins of all images, in order."""
    labels, margins = [], []
    with pool_map(_write_pngs, jobs, workers=workers, progress=progress, desc=desc, total=n, unit="img") as results:
        for y, m in results:
            labels.append(y)
            margins.append(m)
    return np.concatenate(labels), np.concatenate(margins)


def _write_metadata(p, labels, margins, finals, tmp, layout, batch) -> None:
    for label, folder in ({1: finals[1]} if layout == "lra" else finals).items():
        meta = tmp[folder] / "metadata"
        meta.mkdir(exist_ok=True)
        for b0 in range(0, len(labels), batch):
            rows = [
                _metadata_row(p, i, int(labels[i]), float(margins[i]), batch)
                for i in range(b0, min(b0 + batch, len(labels)))
                if layout == "lra" or labels[i] == label
            ]
            if rows:
                save_npy(meta / f"{b0 // batch}.npy", np.array(rows, dtype=str))


def preview_grid(images: np.ndarray, labels: np.ndarray, per_row: int = 8, tile: int = 150) -> np.ndarray:
    """A uint8 grid: a row of positives over a row of negatives, tiles ``tile`` px, 4 px gaps."""
    from PIL import Image, ImageDraw

    rows = []
    for label, text in ((1, "connected (label 1)"), (0, "not connected (label 0)")):
        chosen = images[labels == label][:per_row]
        tiles = [np.asarray(Image.fromarray(im).resize((tile, tile), Image.NEAREST)) for im in chosen]
        tiles += [np.zeros((tile, tile), np.uint8)] * (per_row - len(tiles))
        row = np.full((tile + 18, per_row * (tile + 4)), 60, np.uint8)
        for k, t in enumerate(tiles):
            row[18:, k * (tile + 4) : k * (tile + 4) + tile] = t
        canvas = Image.fromarray(row)
        ImageDraw.Draw(canvas).text((4, 3), text, fill=255)
        rows.append(np.asarray(canvas))
    return np.concatenate(rows, 0)


def write_preview(path: str | os.PathLike, params: PathFinderParams, *, seed: int = 0, split: str = "train") -> Path:
    """Save a PNG grid of the first positives and negatives of a split (the same images as on disk)."""
    from PIL import Image

    x, y = generate_pathfinder(32, params, seed=seed, split=split, workers=1)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(preview_grid(x, y, tile=max(150, params.size))).save(tmp, format="PNG")
    return path
